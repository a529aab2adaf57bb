package main

import (
	"context"
	"fmt"
	"io"

	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/evalcli"
)

// selectTemplates is -templates auto: FLOSS's choice of each class's templates on the evaluated
// images with the one method's predictions (evaluate.SelectTemplates), used by the evaluation.
// (-templates auto excludes -protocol, so the method is Run.Methods' only one.)
func selectTemplates(ctx context.Context, ex *surgery.Explainer, ds *evaluate.Dataset, c *evalcli.Config, progress io.Writer) error {
	sel, err := evaluate.SelectTemplates(ctx, ex, ds, c.Run.Methods[0], c.Run.Model, c.Run.Limit, progress)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("-templates auto: %w", err)
	}
	c.Run.Model.ClassTemplates = sel.ClassTemplates()
	return nil
}
