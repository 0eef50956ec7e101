package junitmerge

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// MergeFiles merges junit files without a workspace: each path is a file,
// or a directory searched recursively for *.xml. A file that cannot be read
// as junit becomes an error testcase and the others still merge; a path
// that does not exist is an error (a mistyped argument, or a shell glob that
// matched nothing).
//
// Each file's suite is named after the file's path (relative to the
// directory argument it was found under), without ".xml"; the report groups
// suites by that name's directory ("GEN_0/rank3" -> role GEN_0).
func MergeFiles(paths []string, o Options) (*Document, *Report, error) {
	o = o.withDefaults()
	var files, labels []string
	var suites []*Suite
	seen := map[string]bool{}
	add := func(file, label string) {
		if abs, err := filepath.Abs(file); err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		files = append(files, file)
		labels = append(labels, strings.TrimSuffix(filepath.ToSlash(label), ".xml"))
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("read junit path: %w", err)
		}
		if !info.IsDir() {
			add(p, filepath.Clean(p))
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".xml") && !strings.HasPrefix(d.Name(), ".") {
				found = append(found, file)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("search %s for junit files: %w", p, err)
		}
		if len(found) == 0 {
			label := filepath.ToSlash(filepath.Clean(p))
			suites = append(suites, &Suite{Name: label, role: label, Cases: []*Case{syntheticCase("noderun.junit", label,
				problem{typ: junitNoFiles, message: "no junit files (*.xml) under " + p}, false, 0)}})
			continue
		}
		sort.Strings(found)
		for _, file := range found {
			rel, err := filepath.Rel(p, file)
			if err != nil {
				rel = file
			}
			add(file, rel)
		}
	}
	results := ingestFiles(files)
	for i := range files {
		suites = append(suites, fileSuites(labels[i], files[i], results[i], o)...)
	}
	roles := map[string]bool{}
	for _, s := range suites {
		roles[s.role] = true
	}
	doc, rep := assemble(suites, orderRoles(nil, roles), o.Now())
	return doc, rep, nil
}

// fileSuites names the suites of one file after its label and adds an
// error testcase, naming the file as shown, when the file is broken.
func fileSuites(label, shown string, in ingested, o Options) []*Suite {
	label = cleanText(label)
	role := path.Dir(label)
	if role == "." {
		role = label
	}
	suites := in.suites
	nameSuites(suites, label)
	if in.broken != nil {
		c := syntheticCase("noderun.junit", label, junitProblem(in, shown), false, o.LogTailLines)
		if len(suites) == 1 {
			suites[0].Cases = append(suites[0].Cases, c)
		} else {
			suites = append([]*Suite{{Name: label, Cases: []*Case{c}}}, suites...)
		}
	}
	for _, s := range suites {
		s.role = role
	}
	return suites
}
