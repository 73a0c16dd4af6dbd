// vexcheck validates an OpenVEX document with the OpenVEX project's own Go library (go-vex, the library
// vexctl is built on; vexctl itself is not served by the Go module proxy here) and answers, for each
// product purl given, which status the document gives each vulnerability it names, using go-vex's
// matching (the same purl matching vexctl's filter applies).
//
// Usage: vexcheck DOCUMENT.json [PURL...]   prints JSON: {"statements": N, "effective": [...]}
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/openvex/go-vex/pkg/vex"
)

type effective struct {
	Product       string `json:"product"`
	Vulnerability string `json:"vulnerability"`
	Status        string `json:"status"`
	Justification string `json:"justification,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vexcheck DOCUMENT.json [PURL...]")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	doc, err := vex.Parse(data)
	if err != nil {
		fail(fmt.Errorf("%s: not OpenVEX: %w", os.Args[1], err))
	}
	if doc.Context == "" || doc.ID == "" || doc.Author == "" || doc.Timestamp == nil {
		fail(fmt.Errorf("%s: @context, @id, author and timestamp are required", os.Args[1]))
	}
	vulns := map[string]bool{}
	for i := range doc.Statements {
		if err := doc.Statements[i].Validate(); err != nil {
			fail(fmt.Errorf("%s: statements[%d]: %w", os.Args[1], i, err))
		}
		vulns[string(doc.Statements[i].Vulnerability.Name)] = true
	}
	names := make([]string, 0, len(vulns))
	for v := range vulns {
		names = append(names, v)
	}
	sort.Strings(names)
	out := []effective{}
	for _, product := range os.Args[2:] {
		for _, v := range names {
			if s := doc.EffectiveStatement(product, v); s != nil {
				out = append(out, effective{product, v, string(s.Status), string(s.Justification)})
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"statements": len(doc.Statements), "effective": out}); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "vexcheck:", err)
	os.Exit(1)
}
