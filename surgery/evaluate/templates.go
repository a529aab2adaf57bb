package evaluate

import (
	"context"
	"fmt"
	"io"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// SelectTemplates is FLOSS's label-free template selection (surgery.SelectTemplates) on a
// dataset: the 80 ImageNet templates ranked on the first limit images (0 = all; the masks are
// not read into the choice) by one method's predictions under mo, each class's names keeping the
// class's experts. Set mo.ClassTemplates to the result's ClassTemplates() to evaluate with them.
// Images that cannot be loaded are left out (the evaluation counts them as skips); progress, when
// not nil, gets a line per image.
func SelectTemplates(ctx context.Context, ex *surgery.Explainer, ds *Dataset, method clip.Method, mo ModelOptions,
	limit int, progress io.Writer) (*surgery.TemplateSelection, error) {
	if err := checkClasses(ds.Classes); err != nil {
		return nil, err
	}
	names, nameClass := queries(ds.Classes)
	opt := mo.explainOptions(names, method)
	opt.Templates, opt.ClassTemplates = nil, nil
	s, err := ex.NewTemplateSelector(ctx, surgery.SelectOptions{Options: opt, LabelClass: nameClass})
	if err != nil {
		return nil, err
	}
	items := ds.Items
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	for i, it := range items {
		if progress != nil {
			fmt.Fprintf(progress, "\rchoosing templates (FLOSS, %s): %d/%d", method, i+1, len(items))
		}
		pix, _, err := ds.Load(it)
		if err != nil {
			continue
		}
		if err := s.Add(ctx, pix); err != nil {
			return nil, fmt.Errorf("%s: %w", it.ID, err)
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return s.Selection()
}
