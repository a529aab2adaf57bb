package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// selectTemplates is -templates auto: FLOSS ranks the 80 ImageNet templates on the command's
// images with the command's method and options, and every label keeps its -template-experts
// best (c.ClassTemplates). An image that cannot be read is left out here; the main loop reports
// it. The targets' templates are listed on stderr.
func selectTemplates(ctx context.Context, ex *surgery.Explainer, c *config, images []string, first *imageprep.Pixels, stderr io.Writer) error {
	opt := surgery.SelectOptions{Options: c.Options(), Experts: c.Experts}
	opt.PresenceThreshold = 0 // the gate is about points, not about ranking templates
	s, err := ex.NewTemplateSelector(ctx, opt)
	if err != nil {
		return fmt.Errorf("-templates auto: %w", err)
	}
	bar := newProgress(stderr, len(images))
	for i, path := range images {
		bar.update(i, "templates: "+path)
		pix := first
		if pix == nil {
			if pix, err = explaincli.ReadImage(path); err != nil {
				continue
			}
		}
		if err := s.Add(ctx, pix); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("-templates auto: %s: %w", path, err)
		}
	}
	bar.done()
	sel, err := s.Selection()
	if err != nil {
		return fmt.Errorf("-templates auto: no readable image (%w)", err)
	}
	c.ClassTemplates = sel.ClassTemplates()
	seen := map[string]bool{}
	for _, t := range c.Targets {
		for _, part := range surgery.SplitTarget(t) {
			if !seen[part] {
				seen[part] = true
				fmt.Fprintf(stderr, "clipsurgery: templates for %q (FLOSS on %d images): %s\n", part, sel.Images,
					strings.Join(c.ClassTemplates[part], " | "))
			}
		}
	}
	return nil
}
