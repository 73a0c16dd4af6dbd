// grypedb builds a grype vulnerability database (schema v6) from NVD CVE records with grype's own
// builder (github.com/anchore/grype/grype/db, the code grype-db runs), so that grype can scan
// undistro's images offline: nothing here is fetched from anchore's database service.
//
// The records are NVD API 2.0 "cve" objects, as NVD publishes them. They are written as a vunnel
// workspace (the format grype's builder reads: one envelope per record, an xxh64 listing, the
// provider state) and built into DIR/6/vulnerability.db with DIR/6/import.json beside it: what
// grype reads with GRYPE_DB_CACHE_DIR=DIR and GRYPE_DB_AUTO_UPDATE=false.
//
// Usage: grypedb RECORDS.json DIR     (RECORDS.json: a JSON array of NVD "cve" objects)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/OneOfOne/xxhash"
	"github.com/spf13/afero"

	"github.com/anchore/grype/grype/db"
	"github.com/anchore/grype/grype/db/provider"
	v6 "github.com/anchore/grype/grype/db/v6"
)

const nvdSchema = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/nvd/schema-1.0.0.json"
const stateSchema = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/provider-workspace-state/schema-1.0.3.json"

// The database's build time: fixed, so the same records give the same database.
var built = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grypedb RECORDS.json DIR")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	check(err)
	var records []map[string]any
	if err := json.Unmarshal(data, &records); err != nil {
		check(fmt.Errorf("%s: not a JSON array of NVD cve objects: %w", os.Args[1], err))
	}
	workspace, err := os.MkdirTemp("", "grypedb-")
	check(err)
	defer os.RemoveAll(workspace)

	w := provider.NewWorkspaceWriter(workspace, "nvd")
	var files []provider.File
	for i, cve := range records {
		id, _ := cve["id"].(string)
		if id == "" {
			check(fmt.Errorf("%s: record %d has no id", os.Args[1], i))
		}
		envelope, err := json.Marshal(map[string]any{"schema": nvdSchema, "identifier": "nvd:" + strings.ToLower(id), "item": map[string]any{"cve": cve}})
		check(err)
		f, err := w.WriteResult(id+".json", envelope)
		check(err)
		files = append(files, *f)
	}
	check(w.WriteListing(files))
	listing, err := os.ReadFile(w.ListingPath())
	check(err)
	h := xxhash.New64()
	_, _ = h.Write(listing)
	check(w.WriteState(provider.State{
		Provider:  "nvd",
		Version:   2,
		Processor: "undistro-grypedb",
		Schema:    provider.Schema{Version: "1.0.3", URL: stateSchema},
		URLs:      []string{"https://services.nvd.nist.gov/rest/json/cves/2.0"},
		Timestamp: built,
		Listing:   &provider.File{Path: "results/listing.xxh64", Digest: fmt.Sprintf("%016x", h.Sum64()), Algorithm: "xxh64"},
		Store:     "flat-file",
	}))
	state, err := provider.ReadState(filepath.Join(w.Path(), "metadata.json"))
	check(err)

	out := filepath.Join(os.Args[2], "6")
	check(os.MkdirAll(out, 0o755))
	check(db.Build(db.BuildConfig{
		SchemaVersion:       6,
		Directory:           out,
		States:              provider.States{*state},
		Timestamp:           built,
		IncludeCPEParts:     []string{"a", "h", "o"},
		InferNVDFixVersions: true,
		Hydrate:             true,
		BatchSize:           100,
	}))
	_, err = v6.WriteImportMetadata(afero.NewOsFs(), out, "undistro grypedb")
	check(err)
	fmt.Printf("grypedb: %d records -> %s\n", len(records), filepath.Join(out, v6.VulnerabilityDBFileName))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "grypedb:", err)
		os.Exit(1)
	}
}
