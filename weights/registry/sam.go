package registry

import (
	"fmt"
	"strings"
)

// SAM checkpoints: the three released Segment Anything models, as segment-anything's README links
// them. Sources (checked with the project's search tools, not over the network, so nothing here was
// verified by downloading):
//   - URLs and file names: the README of facebookresearch/segment-anything ("Model Checkpoints"),
//     repeated verbatim in many downstream repositories.
//   - The six hex digits in each file name are the first six of the file's MD5; the full MD5s below
//     are the values several independent downstream projects check downloads against.
//   - SHA-256 and sizes: upstream publishes none. The digests below are the ones independent public
//     projects pin for these URLs (among them 3D Slicer's SlicerSegmentAnything extension for vit_l,
//     and several download scripts and audit manifests for each of the three, some also pinning
//     the byte sizes); every source found agreed. Fetch checks every download against them, so a
//     wrong value fails loudly (ChecksumError) instead of accepting a bad file.
const samBase = "https://dl.fbaipublicfiles.com/segment_anything/"

// SAMCheckpoint is one released SAM model: a registry Model (for Fetch) plus what identifies it.
type SAMCheckpoint struct {
	Model
	Variant string // encoder: "vit_b", "vit_l" or "vit_h" (segment-anything's sam_model_registry key)
	Size    int64  // bytes, as pinned by the sources above
	MD5     string // lowercase hex; its first six digits are in the file name
}

var samCheckpoints = []SAMCheckpoint{
	samEntry("vit_b", "sam_vit_b_01ec64.pth", "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
		"01ec64d29a2fca3f0661936605ae66f8", 375042383),
	samEntry("vit_l", "sam_vit_l_0b3195.pth", "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
		"0b3195507c641ddb6910d2bb5adee89c", 1249524607),
	samEntry("vit_h", "sam_vit_h_4b8939.pth", "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
		"4b8939a88964f0f4ff5f5b2642c598a6", 2564550879),
}

func samEntry(variant, file, sha, md5 string, size int64) SAMCheckpoint {
	return SAMCheckpoint{
		Model:   Model{Name: "sam_" + variant, File: file, URL: samBase + file, SHA256: sha},
		Variant: variant, Size: size, MD5: md5,
	}
}

// SAMNames lists the SAM model names: sam_vit_b, sam_vit_l, sam_vit_h.
func SAMNames() []string {
	out := make([]string, len(samCheckpoints))
	for i, c := range samCheckpoints {
		out[i] = c.Name
	}
	return out
}

// LookupSAM returns a released SAM checkpoint by name ("sam_vit_b", ...). Upstream's registry keys
// ("vit_b", and "default" for vit_h as in sam_model_registry) are accepted too. Fetch(ctx,
// c.Model, opt) downloads and verifies it.
func LookupSAM(name string) (SAMCheckpoint, error) {
	key := strings.TrimPrefix(name, "sam_")
	if key == "default" {
		key = "vit_h"
	}
	for _, c := range samCheckpoints {
		if c.Variant == key {
			return c, nil
		}
	}
	return SAMCheckpoint{}, fmt.Errorf("%w %q; available SAM models = [%s]", ErrUnknownModel, name, strings.Join(SAMNames(), ", "))
}
