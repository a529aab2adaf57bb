package clip

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's method table from the method table")

// Every descriptor of the method table: complete, its names and aliases round-trip and belong to
// it alone, its ViT graph builds at a grid other than the native one (so its positional resize
// runs too) and differs from every other method's, and a ResNet refuses it exactly when it is
// ViT-only. A new method is checked here by adding its descriptor; its oracle test checks its
// numbers.
func TestMethodTable(t *testing.T) {
	vit, rn := loadGoldenModel(t, "vit16"), loadGoldenModel(t, "rn")
	specs := Methods()
	if len(specs) == 0 || specs[0].Name != MethodSurgery || vit.Method != specs[0].Name {
		t.Fatalf("the table's default is %q and NewModel's Method %q; want surgery for both", specs[0].Name, vit.Method)
	}
	const h, w = 96, 128 // multiples of 32 (the ResNet's stride), not the native 224
	pix := oraclePixels(h, w)
	owner := map[string]Method{}
	tokens := map[Method][]float32{}
	for _, s := range specs {
		t.Run(string(s.Name), func(t *testing.T) {
			checkDescriptor(t, s)
			for _, name := range append([]string{string(s.Name)}, s.Aliases...) {
				if prev, dup := owner[name]; dup {
					t.Errorf("name %q belongs to %s and %s", name, prev, s.Name)
				}
				owner[name] = s.Name
				if name != strings.ToLower(strings.TrimSpace(name)) || name == "" {
					t.Errorf("name %q: names are lower case, not empty, without spaces around", name)
				}
				got, err := ParseMethod(" " + strings.ToUpper(name) + " ")
				if err != nil || got != s.Name {
					t.Errorf("ParseMethod(%q) = %q, %v; want %q", name, got, err, s.Name)
				}
				if l, err := LookupMethod(name); err != nil || l.Name != s.Name || !slices.Equal(l.Aliases, s.Aliases) {
					t.Errorf("LookupMethod(%q) = %q %v, %v", name, l.Name, l.Aliases, err)
				}
			}

			opt := ImageOptions{Method: s.Name}
			if s.VFM { // a VFM's patch features on CLIP's grid: the tokens keep its layout
				opt.Proxy = testProxy(1, h/16, w/16, 8)
			}
			f, err := vit.EncodeImage(pix, 1, h, w, opt)
			if err != nil {
				t.Fatalf("ViT: %v", err)
			}
			if want := []int{1, 1 + (h/16)*(w/16), vit.Config.EmbedDim}; !slices.Equal(f.Shape, want) {
				t.Fatalf("ViT tokens %v, want %v", f.Shape, want)
			}
			checkFinite(t, f.Data)
			tokens[s.Name] = f.Data
			for _, alias := range s.Aliases { // an alias is the same encoder
				opt.Method = Method(alias)
				if a, err := vit.EncodeImage(pix, 1, h, w, opt); err != nil || !slices.Equal(a.Data, f.Data) {
					t.Errorf("alias %q encodes differently from %s (%v)", alias, s.Name, err)
				}
			}

			r, err := rn.EncodeImage(pix, 1, h, w, ImageOptions{Method: s.Name})
			if s.ViTOnly != errors.Is(err, ErrViTOnly) {
				t.Fatalf("ResNet with ViTOnly %v: %v", s.ViTOnly, err)
			}
			if _, rerr := rn.ResolveMethod(s.Name); errors.Is(rerr, ErrViTOnly) != s.ViTOnly {
				t.Errorf("ResNet ResolveMethod with ViTOnly %v: %v", s.ViTOnly, rerr)
			}
			if s.ViTOnly {
				if !strings.Contains(err.Error(), string(s.Name)) {
					t.Errorf("the refusal does not name the method: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResNet: %v", err)
			}
			checkFinite(t, r.Data)
		})
	}
	for i, a := range specs {
		for _, b := range specs[i+1:] {
			if ta, tb := tokens[a.Name], tokens[b.Name]; ta != nil && slices.Equal(ta, tb) {
				t.Errorf("%s and %s build the same encoder", a.Name, b.Name)
			}
		}
	}
}

// checkDescriptor checks that a descriptor says what it changes and where that comes from, and
// that its protocol is whole.
func checkDescriptor(t *testing.T, s MethodSpec) {
	t.Helper()
	for field, v := range map[string]string{"Title": s.Title, "Changes": s.Changes, "Blocks": s.Blocks,
		"PositionalEmbedding": s.PositionalEmbedding, "Paper": s.Paper, "Code": s.Code} {
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s: empty %s", s.Name, field)
		}
	}
	p := s.Protocol
	if p != (Protocol{}) && (p.From == "" || p.ShortSide < 0 || p.Window < 0 || (p.Window > 0) != (p.Stride > 0) || p.Stride > p.Window) {
		t.Errorf("%s: protocol %+v: want its source, and a stride in 1..window with a window", s.Name, p)
	}
}

func checkFinite(t *testing.T, data []float32) {
	t.Helper()
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("value %d is %v", i, v)
		}
	}
}

// The table's copies are copies; the default and unknown names resolve as documented.
func TestMethodLookup(t *testing.T) {
	specs := Methods()
	for i := range specs {
		for j := range specs[i].Aliases {
			specs[i].Aliases[j] = "changed"
		}
		specs[i].Name = "changed"
	}
	if s, err := LookupMethod("changed"); err == nil {
		t.Fatalf("a changed copy reached the table: %+v", s)
	}
	if names := MethodNames(); slices.Contains(names, "changed") || len(names) != len(specs) {
		t.Errorf("MethodNames() = %v", names)
	}
	if _, err := LookupMethod(" "); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("LookupMethod(\" \"): %v, want ErrUnknownMethod", err)
	}
	if _, err := LookupMethod("gemini"); !errors.Is(err, ErrUnknownMethod) || !strings.Contains(err.Error(), "naclip") {
		t.Errorf("LookupMethod(gemini): %v, want ErrUnknownMethod listing the methods", err)
	}

	m := loadGoldenModel(t, "vit16")
	m.Method = MethodSCLIP
	if s, err := m.ResolveMethod(MethodDefault); err != nil || s.Name != MethodSCLIP || s.FeatureSurgery {
		t.Errorf("ResolveMethod(default) with Model.Method sclip = %q (feature surgery %v), %v", s.Name, s.FeatureSurgery, err)
	}
	if s, err := m.ResolveMethod("clip-surgery"); err != nil || s.Name != MethodSurgery || !s.FeatureSurgery {
		t.Errorf("ResolveMethod(clip-surgery) = %q (feature surgery %v), %v", s.Name, s.FeatureSurgery, err)
	}
	m.Method = "nope"
	if _, err := m.ResolveMethod(MethodDefault); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("ResolveMethod(default) with an unknown Model.Method: %v", err)
	}
}

// The README's method table is the descriptors' (go test -run TestREADMEMethodTable
// -update-readme rewrites it).
func TestREADMEMethodTable(t *testing.T) {
	checkREADMESection(t, "<!-- method table: generated from clip.Methods() -->\n", "<!-- end of method table -->\n",
		methodTableMarkdown(Methods()))
}

// checkREADMESection compares the README between the begin and end markers with want, and
// rewrites it with -update-readme.
func checkREADMESection(t *testing.T, begin, end, want string) {
	t.Helper()
	const path = "../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no method table between %q and %q", path, begin, end)
	}
	got := readme[i+len(begin) : j]
	if got == want {
		return
	}
	if *updateReadme {
		if err := os.WriteFile(path, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotRows, wantRows := strings.Split(got, "\n"), strings.Split(want, "\n")
	for k := range max(len(gotRows), len(wantRows)) {
		g, w := "", ""
		if k < len(gotRows) {
			g = gotRows[k]
		}
		if k < len(wantRows) {
			w = wantRows[k]
		}
		if g != w {
			t.Errorf("README table line %d disagrees with the descriptors:\nREADME: %s\ntable:  %s", k+1, g, w)
		}
	}
	t.Log("go test ./gomlx_clip -run TestREADME -update-readme rewrites it")
}

// methodTableMarkdown is the README's method table: one row per descriptor.
func methodTableMarkdown(specs []MethodSpec) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	yes := func(b bool, y, n string) string {
		if b {
			return y
		}
		return n
	}
	var b strings.Builder
	b.WriteString("| method | also | what changes | ViT only | feature surgery | authors' protocol | source |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range specs {
		also := "—"
		if len(s.Aliases) > 0 {
			also = "`" + strings.Join(s.Aliases, "`, `") + "`"
		}
		protocol := "—"
		if p := s.Protocol; p != (Protocol{}) {
			protocol = fmt.Sprintf("short side %d; windows %d, stride %d", p.ShortSide, p.Window, p.Stride)
		}
		fmt.Fprintf(&b, "| `%s` (%s) | %s | %s | %s | %s | %s | %s; %s |\n", s.Name, cell(s.Title), also, cell(s.Changes),
			yes(s.ViTOnly, "yes", "no"), yes(s.FeatureSurgery, "on", "off"), protocol, cell(s.Paper), cell(s.Code))
	}
	return b.String()
}
