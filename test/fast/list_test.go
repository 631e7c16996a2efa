// Package fast drives the real kiln binary through aws-sdk-go-v2, on SQLite
// and on PostgreSQL (Debian's PostgreSQL 15 started by the test), to check
// what the fast List paths (index-only pages, rows by revision, filters in
// SQL, cursors looked up inside the page's statement, answers spliced from
// cached JSON) must keep: every filter selects what it says, a walk in
// small pages sees every entry once even when entries are deleted and
// created between its pages, a restart on the same data directory changes
// nothing a List shows, and a second node on the same database lists the
// same.
package fast

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	kilntest.Cleanup()
	os.Exit(code)
}

const doc = `name: fast
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello
`

// walk lists every component version the filters select in pages of
// size, calling between(page) after each page but the last.
func walk(t *testing.T, c *imagebuilder.Client, filters []types.Filter, size int32, between func(page int)) []string {
	t.Helper()
	ctx := kilntest.Context(t)
	var names []string
	var token *string
	for page := 0; ; page++ {
		out, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{Filters: filters, MaxResults: aws.Int32(size), NextToken: token})
		if err != nil {
			t.Fatalf("ListComponents page %d: %v", page, err)
		}
		if len(out.ComponentVersionList) > int(size) {
			t.Fatalf("page %d holds %d entries, more than %d", page, len(out.ComponentVersionList), size)
		}
		for _, v := range out.ComponentVersionList {
			names = append(names, aws.ToString(v.Name)+"/"+aws.ToString(v.Version))
		}
		if out.NextToken == nil {
			return names
		}
		token = out.NextToken
		if between != nil {
			between(page)
		}
	}
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		srv := kilntest.StartIn(t, dataDir)
		c := srv.Client(kilntest.DefaultCreds)
		checkListing(t, c)

		// What a List shows survives a restart (the revision counter and
		// the row cache start over; nothing stale may come back).
		before := walk(t, c, nil, 25, nil)
		srv.Stop()
		c = kilntest.StartIn(t, dataDir).Client(kilntest.DefaultCreds)
		after := walk(t, c, nil, 25, nil)
		if !slices.Equal(before, after) {
			t.Errorf("after a restart List shows %d entries, before it %d", len(after), len(before))
		}
		creator(t, c)("after-restart", "1.0.0", "b")
		if got := walk(t, c, []types.Filter{{Name: aws.String("name"), Values: []string{"after-restart"}}}, 25, nil); len(got) != 1 {
			t.Errorf("a component created after the restart: listed %v", got)
		}
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		url := pgtest.SocketURL(t)
		c := kilntest.Start(t, "--store", url).Client(kilntest.DefaultCreds)
		create := checkListing(t, c)

		// A second node on the same database lists the same, filters
		// included, and sees a create through the first at once.
		other := kilntest.Start(t, "--store", url).Client(kilntest.DefaultCreds)
		filter := []types.Filter{{Name: aws.String("supportedOsVersion"), Values: []string{"Ubuntu 24"}}}
		if a, b := walk(t, c, filter, 3, nil), walk(t, other, filter, 3, nil); !slices.Equal(a, b) {
			t.Errorf("filtered walks differ between nodes: %v and %v", a, b)
		}
		create("after", "1.0.0", "a")
		if got := walk(t, other, []types.Filter{{Name: aws.String("name"), Values: []string{"after"}}, filter[0]}, 25, nil); len(got) != 1 {
			t.Errorf("a component created through the first node, listed by the second: %v", got)
		}
	})
}

// creator returns a function that creates a component version in group a
// (Ubuntu, described "group a") or b (Amazon Linux 2) and returns its ARN.
func creator(t *testing.T, c *imagebuilder.Client) func(name, version, group string) string {
	ctx := kilntest.Context(t)
	return func(name, version, group string) string {
		t.Helper()
		osv := []string{"Amazon Linux 2"}
		if group == "a" {
			osv = []string{"Ubuntu 22", "Ubuntu 24"}
		}
		out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
			Name: aws.String(name), SemanticVersion: aws.String(version), Platform: types.PlatformLinux,
			SupportedOsVersions: osv, Description: aws.String("group " + group),
			Data: aws.String(doc), ClientToken: aws.String(name + version),
		})
		if err != nil {
			t.Fatalf("CreateComponent %s %s: %v", name, version, err)
		}
		return aws.ToString(out.ComponentBuildVersionArn)
	}
}

// checkListing creates 72 component versions in two groups through c and
// checks filters, version order and a walk with deletes and creates
// between its pages. It returns the creator it used.
func checkListing(t *testing.T, c *imagebuilder.Client) func(name, version, group string) string {
	t.Helper()
	ctx := kilntest.Context(t)
	create := creator(t, c)

	// Two groups: group a on Ubuntu, group b on Amazon Linux 2.
	var groupA, groupB []string
	arns := map[string]string{}
	for i := range 24 {
		name := fmt.Sprintf("c%02d", i)
		group := "b"
		if i%3 == 0 {
			group = "a"
		}
		for _, v := range []string{"1.0.0", "1.10.0", "1.9.0"} {
			arns[name+"/"+v] = create(name, v, group)
			if group == "a" {
				groupA = append(groupA, name+"/"+v)
			} else {
				groupB = append(groupB, name+"/"+v)
			}
		}
	}
	all := append(slices.Clone(groupA), groupB...)
	sortedEntries := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"no filter", nil, all},
		{"platform", []types.Filter{{Name: aws.String("platform"), Values: []string{"Linux"}}}, all},
		{"platform, none", []types.Filter{{Name: aws.String("platform"), Values: []string{"Windows"}}}, nil},
		{"description", []types.Filter{{Name: aws.String("description"), Values: []string{"group a"}}}, groupA},
		{"description, two values", []types.Filter{{Name: aws.String("description"), Values: []string{"group a", "group b"}}}, all},
		{"supportedOsVersion (an array member)", []types.Filter{{Name: aws.String("supportedOsVersion"), Values: []string{"Ubuntu 24"}}}, groupA},
		{"supportedOsVersion, other group", []types.Filter{{Name: aws.String("supportedOsVersion"), Values: []string{"Amazon Linux 2"}}}, groupB},
		{"name and version", []types.Filter{
			{Name: aws.String("name"), Values: []string{"c01", "c03"}},
			{Name: aws.String("version"), Values: []string{"1.10.0"}},
		}, []string{"c01/1.10.0", "c03/1.10.0"}},
		{"nothing matches", []types.Filter{{Name: aws.String("type"), Values: []string{"TEST"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := walk(t, c, tt.filters, 7, nil)
			if !slices.Equal(sortedEntries(got), sortedEntries(tt.want)) {
				t.Errorf("listed %d entries %v;\nwant %d %v", len(got), got, len(tt.want), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i-1] == got[i] {
					t.Errorf("%s listed twice", got[i])
				}
			}
		})
	}

	// Versions come in semantic order within a name: 1.0.0, 1.9.0, 1.10.0.
	got := walk(t, c, []types.Filter{{Name: aws.String("name"), Values: []string{"c05"}}}, 2, nil)
	if want := []string{"c05/1.0.0", "c05/1.9.0", "c05/1.10.0"}; !slices.Equal(got, want) {
		t.Errorf("order of one name's versions: %v; want %v", got, want)
	}

	// Deleting the entry a page ended on, and creating entries before and
	// after the walk's position, between pages: every entry that existed
	// throughout is seen exactly once, and nothing deleted before its page
	// is seen.
	deleted := map[string]bool{}
	got = walk(t, c, nil, 5, func(page int) {
		if page == 2 {
			for _, e := range []string{"c03/1.10.0", "c20/1.0.0"} { // one already listed, one ahead
				if _, err := c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(arns[e])}); err != nil {
					t.Fatalf("DeleteComponent %s: %v", e, err)
				}
				deleted[e] = true
			}
			create("a-new", "1.0.0", "b") // before the position: not seen
			create("z-new", "1.0.0", "b") // after it: seen
		}
	})
	seen := map[string]int{}
	for _, e := range got {
		seen[e]++
	}
	for _, e := range all {
		switch {
		case e == "c20/1.0.0" && seen[e] != 0:
			t.Errorf("%s was deleted before its page but listed", e)
		case e != "c20/1.0.0" && seen[e] != 1:
			t.Errorf("%s listed %d times during a walk with deletes", e, seen[e])
		}
	}
	if seen["z-new/1.0.0"] != 1 || seen["a-new/1.0.0"] != 0 {
		t.Errorf("entries created during the walk: z-new seen %d times (want 1), a-new %d (want 0)", seen["z-new/1.0.0"], seen["a-new/1.0.0"])
	}

	return create
}
