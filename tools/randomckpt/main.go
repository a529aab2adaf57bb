// Command randomckpt writes a full-size CLIP, SAM or DINO / DINOv2 checkpoint with seeded random weights, for
// benchmarks where the real weights cannot be downloaded: safetensors (float32), or, for an -out
// ending in .pt, a TorchScript archive laid out like the released OpenAI files (for CLIP, float16
// Linear/Conv/attention weights as OpenAI ships them):
//
//	randomckpt -model ViT-B/16 -out vit_b16_random.safetensors
//	randomckpt -model ViT-B/16 -out vit_b16_random.pt
//	randomckpt -model sam_vit_b -out sam_vit_b_random.safetensors
//	randomckpt -model dinov2-b14 -out dinov2_b14_random.safetensors
//
// CLIP shapes come from the architecture the name promises (clip.ReleasedConfig), SAM's from
// sam.ReleasedConfig, DINO's from dino.ReleasedConfig; the tensors and values are those of tools/internal/randomckpt (which
// tools/sambench uses too).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	dino "github.com/clipsurgery/clipsurgery/gomlx_dino"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/tools/internal/randomckpt"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

func main() {
	name := flag.String("model", "ViT-B/16", "registry model name: a CLIP name, "+strings.Join(registry.SAMNames(), ", ")+" or a DINO name ("+
		strings.Join(registry.DINONames(), ", ")+")")
	out := flag.String("out", "", "output path: .safetensors, or .pt for a TorchScript archive")
	seed := flag.Uint64("seed", 0, "random seed")
	flag.Parse()
	if err := run(*name, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "randomckpt:", err)
		os.Exit(1)
	}
}

func run(name, out string, seed uint64) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	if s, err := registry.LookupSAM(name); err == nil {
		cfg, err := sam.ReleasedConfig(s.Variant)
		if err != nil {
			return err
		}
		if err := randomckpt.WriteSAM(out, cfg, seed); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s: SAM %s\n", out, cfg.Name())
		return nil
	}
	if _, err := registry.LookupDINO(name); err == nil {
		cfg, err := dino.ReleasedConfig(name)
		if err != nil {
			return err
		}
		if err := randomckpt.WriteDINO(out, cfg, seed); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %s\n", out, cfg)
		return nil
	}
	m, err := registry.Lookup(name)
	if err != nil {
		return err
	}
	cfg, err := ConfigOf(m.Name)
	if err != nil {
		return err
	}
	if err := randomckpt.WriteCLIP(out, m.Name, cfg, seed); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s\n", out, cfg)
	return nil
}

// ConfigOf is the config the loader will infer for the reference's model name (clip.ReleasedConfig).
func ConfigOf(name string) (clip.Config, error) {
	c, ok := clip.ReleasedConfig(name)
	if !ok {
		return clip.Config{}, fmt.Errorf("no released architecture for %q", name)
	}
	return c, nil
}
