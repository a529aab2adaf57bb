package registry

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
)

// referenceURLs is the _MODELS table of xmed-lab/CLIP_Surgery clip/clip.py, copied verbatim so a typo in
// the generated table (hash + file) is caught; the CS- twins there point at the same URLs.
var referenceURLs = map[string]string{
	"RN50":           "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
	"RN101":          "https://openaipublic.azureedge.net/clip/models/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
	"RN50x4":         "https://openaipublic.azureedge.net/clip/models/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
	"RN50x16":        "https://openaipublic.azureedge.net/clip/models/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
	"RN50x64":        "https://openaipublic.azureedge.net/clip/models/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
	"ViT-B/32":       "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
	"ViT-B/16":       "https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
	"ViT-L/14":       "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
	"ViT-L/14@336px": "https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
}

var referenceOrder = []string{"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px"}

func TestNamesMatchReference(t *testing.T) {
	want := append([]string(nil), referenceOrder...)
	for _, n := range referenceOrder {
		want = append(want, "CS-"+n)
	}
	got := Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v\nwant %v", got, want)
	}
	got[0] = "mutated"
	if Names()[0] != "RN50" {
		t.Fatal("Names() must return a copy")
	}
}

func TestEveryEntryParses(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimPrefix(name, "CS-")
			if m.Name != name || m.Base() != base || m.Surgery != strings.HasPrefix(name, "CS-") {
				t.Errorf("name fields: %+v", m)
			}
			if m.URL != referenceURLs[base] {
				t.Errorf("URL %s\nwant %s", m.URL, referenceURLs[base])
			}
			segs := strings.Split(m.URL, "/")
			if path.Base(m.URL) != m.File || segs[len(segs)-1] != m.File {
				t.Errorf("URL %s does not end with file %s", m.URL, m.File)
			}
			if !isHex(m.SHA256, 64) || strings.ToLower(m.SHA256) != m.SHA256 {
				t.Errorf("SHA256 %q is not 64 lowercase hex digits", m.SHA256)
			}
			if segs[len(segs)-2] != m.SHA256 {
				t.Errorf("SHA256 %s != URL folder %s", m.SHA256, segs[len(segs)-2])
			}
			if err := m.validate(); err != nil {
				t.Error(err)
			}
			twin, err := Lookup(base)
			if err != nil {
				t.Fatal(err)
			}
			if twin.File != m.File || twin.URL != m.URL || twin.SHA256 != m.SHA256 ||
				twin.HFRepo != m.HFRepo || twin.HFFile != m.HFFile || twin.HFTransformersRepo != m.HFTransformersRepo {
				t.Errorf("CS- twin differs from %s: %+v vs %+v", base, m, twin)
			}
			if !strings.HasPrefix(m.HFRepo, "timm/") || !strings.HasSuffix(m.HFRepo, ".openai") ||
				!slices.Contains(OpenCLIPWeightFiles(), m.HFFile) || checkRepoID(m.HFRepo) != nil {
				t.Errorf("HF copy %s/%s", m.HFRepo, m.HFFile)
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, bad := range []string{"ViT-B-32", "vit-b/32", "cs-RN50", "CS-", "", "RN50 "} {
		_, err := Lookup(bad)
		if !errors.Is(err, ErrUnknownModel) {
			t.Fatalf("Lookup(%q) error %v", bad, err)
		}
		for _, n := range []string{"RN50", "ViT-L/14@336px", "CS-RN50x64"} {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("error %q does not list %s", err, n)
			}
		}
	}
}
