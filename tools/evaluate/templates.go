package main

import (
	"context"
	"fmt"
	"io"

	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// selectTemplates is -templates auto: FLOSS's choice of each class's templates on the evaluated
// images with the one method's predictions (evaluate.SelectTemplates), used by the evaluation.
func selectTemplates(ctx context.Context, ex *surgery.Explainer, ds *evaluate.Dataset, c *config, progress io.Writer) error {
	sel, err := evaluate.SelectTemplates(ctx, ex, ds, c.methods[0], c.run.Model, c.run.Limit, progress)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("-templates auto: %w", err)
	}
	c.run.Model.ClassTemplates = sel.ClassTemplates()
	return nil
}
