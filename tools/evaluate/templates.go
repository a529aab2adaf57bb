package main

import (
	"context"
	"fmt"
	"io"

	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// selectTemplates is -templates auto: FLOSS ranks the 80 ImageNet templates on the evaluated
// images (the first -limit; no mask is read into the choice) with the one method's predictions,
// each class keeping its 4 best for all its names, and the evaluation then uses them
// (ModelOptions.ClassTemplates). Images that cannot be read are left out here and counted as
// skips by the evaluation.
func selectTemplates(ctx context.Context, ex *surgery.Explainer, ds *evaluate.Dataset, c *config, progress io.Writer) error {
	var names []string
	var nameClass []int
	for i, cl := range ds.Classes {
		for _, n := range cl.Names {
			names, nameClass = append(names, n), append(nameClass, i)
		}
	}
	m := c.run.Model
	opt := surgery.SelectOptions{Options: surgery.Options{Size: m.Size, Labels: names, Method: c.methods[0], Slide: m.Slide,
		Stride: m.Stride}, LabelClass: nameClass}
	s, err := ex.NewTemplateSelector(ctx, opt)
	if err != nil {
		return fmt.Errorf("-templates auto: %w", err)
	}
	items := ds.Items
	if c.run.Limit > 0 && c.run.Limit < len(items) {
		items = items[:c.run.Limit]
	}
	for i, it := range items {
		if progress != nil {
			fmt.Fprintf(progress, "\rchoosing templates (FLOSS): %d/%d", i+1, len(items))
		}
		pix, _, err := ds.Load(it)
		if err != nil {
			continue
		}
		if err := s.Add(ctx, pix); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("-templates auto: %s: %w", it.ID, err)
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	sel, err := s.Selection()
	if err != nil {
		return fmt.Errorf("-templates auto: no readable image (%w)", err)
	}
	c.run.Model.ClassTemplates = sel.ClassTemplates()
	return nil
}
