// goapk installs a world from APK repositories into a directory with go-apk, the APK implementation
// apko installs images with (github.com/chainguard-dev/go-apk; apko and melange themselves are not
// served by the Go module proxy here, go-apk is). The peers tests compare what it installs from
// undistro's signed repository with undistro's own image of the same packages.
//
//	goapk -root DIR -repository DIR -key KEY.rsa.pub [-arch x86_64] [-epoch N] PACKAGE...
//
// It prints the installed packages, one NAME-VERSION a line, and exits 1 with go-apk's error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chainguard-dev/go-apk/pkg/apk"
	apkfs "github.com/chainguard-dev/go-apk/pkg/fs"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	root := flag.String("root", "", "directory to install into (created)")
	arch := flag.String("arch", "x86_64", "APK architecture")
	epoch := flag.Int64("epoch", 0, "SOURCE_DATE_EPOCH for the installed files' times")
	var repos, keys list
	flag.Var(&repos, "repository", "repository (a directory holding ARCH/APKINDEX.tar.gz); repeatable")
	flag.Var(&keys, "key", "public key the indexes and packages must be signed with; repeatable")
	flag.Parse()
	if *root == "" || len(repos) == 0 || len(keys) == 0 || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: goapk -root DIR -repository DIR -key KEY.rsa.pub [-arch ARCH] [-epoch N] PACKAGE...")
		os.Exit(2)
	}
	if err := run(*root, *arch, *epoch, repos, keys, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "goapk: %v\n", err)
		os.Exit(1)
	}
}

func run(root, arch string, epoch int64, repos, keys, world []string) error {
	ctx := context.Background()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	a, err := apk.New(apk.WithFS(apkfs.DirFS(root)), apk.WithArch(arch), apk.WithIgnoreMknodErrors(true))
	if err != nil {
		return err
	}
	// As apko does: an empty database, the keyring, the repositories, the world, then `apk fix`.
	if err := a.InitDB(ctx); err != nil {
		return fmt.Errorf("init db: %w", err)
	}
	if err := a.InitKeyring(ctx, keys, nil); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := a.SetRepositories(ctx, repos); err != nil {
		return fmt.Errorf("repositories: %w", err)
	}
	if err := a.SetWorld(ctx, world); err != nil {
		return fmt.Errorf("world: %w", err)
	}
	when := time.Unix(epoch, 0).UTC()
	if err := a.FixateWorld(ctx, &when); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	installed, err := a.GetInstalled()
	if err != nil {
		return err
	}
	for _, p := range installed {
		fmt.Printf("%s-%s\n", p.Name, p.Version)
	}
	return nil
}
