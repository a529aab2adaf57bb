package surgery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// ClassTemplates maps a class (a label, or a target text in single-text mode) to its own prompt
// templates ("{}" = the class), e.g. TemplateSelection.ClassTemplates (FLOSS's experts).
type ClassTemplates map[string][]string

// textEntry is one cached prompt-ensemble result; ready is closed when feats/err are set, so
// concurrent callers asking for the same texts wait for one encoding instead of repeating it.
type textEntry struct {
	ready chan struct{}
	feats Matrix
	err   error
}

// TextFeatures returns the prompt-ensemble features of texts ([len(texts), D], unit rows), the
// reference's encode_text_with_prompt_ensemble, cached per (texts, templates). nil templates means
// the 85 default ones. The returned matrix is shared: do not modify it.
func (e *Explainer) TextFeatures(texts, templates []string) (Matrix, error) {
	return e.TextFeaturesContext(context.Background(), texts, templates)
}

// TextFeaturesContext is TextFeatures returning ctx's error once ctx is done, between the prompt
// ensemble's encoder calls or while waiting for another caller's encoding of the same texts. A
// cancelled encoding is not cached: the callers that waited for it and are not cancelled
// themselves encode again.
func (e *Explainer) TextFeaturesContext(ctx context.Context, texts, templates []string) (Matrix, error) {
	return e.cachedText(ctx, cacheKey(texts, templates), func(ctx context.Context) (*clip.Features, error) {
		return e.model.EncodeTextWithPromptEnsembleCached(ctx, texts, templates, e.textCache)
	})
}

// ClassTextFeaturesContext is TextFeaturesContext with a template list per text: row i is the
// prompt ensemble of texts[i] over templates[i] (clip.Model.EncodeTextWithClassTemplatesCached),
// cached in memory per (texts, lists) and on disk per prompt like TextFeatures.
func (e *Explainer) ClassTextFeaturesContext(ctx context.Context, texts []string, templates [][]string) (Matrix, error) {
	key := cacheKey(texts, nil) + "|per-class"
	for _, list := range templates {
		key += "|" + cacheKey(list, nil)
	}
	return e.cachedText(ctx, key, func(ctx context.Context) (*clip.Features, error) {
		return e.model.EncodeTextWithClassTemplatesCached(ctx, texts, templates, e.textCache)
	})
}

// LabelFeatures are the text features an explanation with opt reads for its label set (nil = the
// demo classes): the prompt ensemble over opt.Templates, or over each class's own list for the
// classes opt.ClassTemplates names, from the same cache. An evaluation calls it once before its
// image loop, so that the first image finds them encoded and the time is counted apart.
func (e *Explainer) LabelFeatures(ctx context.Context, opt Options) (Matrix, error) {
	p, err := e.labelPlan(opt)
	if err != nil {
		return Matrix{}, err
	}
	return e.planTextFeatures(ctx, p)
}

// planTextFeatures are the features of a plan's classes: the prompt ensemble over the plan's
// templates, or over each class's own list when Options.ClassTemplates gave some.
func (e *Explainer) planTextFeatures(ctx context.Context, p *plan) (Matrix, error) {
	if p.classTemplates != nil {
		return e.ClassTextFeaturesContext(ctx, p.classes, p.classTemplates)
	}
	return e.TextFeaturesContext(ctx, p.classes, p.templates)
}

// cachedText returns the features stored under key, encoding them once with encode: concurrent
// callers of one key wait for a single encoding (see TextFeaturesContext).
func (e *Explainer) cachedText(ctx context.Context, key string, encode func(context.Context) (*clip.Features, error)) (Matrix, error) {
	for {
		e.mu.Lock()
		ent, ok := e.texts[key]
		if !ok {
			e.evictLocked()
			ent = &textEntry{ready: make(chan struct{})}
			e.texts[key] = ent
		}
		e.mu.Unlock()
		if ok {
			select {
			case <-ent.ready:
			case <-ctx.Done():
				return Matrix{}, ctx.Err()
			}
			if isCancel(ent.err) && ctx.Err() == nil {
				continue // the encoder's caller was cancelled, not this one
			}
			return ent.feats, ent.err
		}
		ent.feats, ent.err = e.encodeTexts(ctx, encode)
		if ent.err != nil { // do not cache failures (a later call may succeed, e.g. after a fix)
			e.mu.Lock()
			delete(e.texts, key)
			e.mu.Unlock()
		}
		close(ent.ready)
		return ent.feats, ent.err
	}
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// maxTextSets bounds the cache: single-text calls with ever new texts must not grow it forever.
const maxTextSets = 64

// evictLocked drops finished entries (any order) once the cache is full; e.mu is held.
func (e *Explainer) evictLocked() {
	for key, ent := range e.texts {
		if len(e.texts) < maxTextSets {
			return
		}
		select {
		case <-ent.ready:
			delete(e.texts, key)
		default: // still being encoded: its waiters hold it
		}
	}
}

func (e *Explainer) encodeTexts(ctx context.Context, encode func(context.Context) (*clip.Features, error)) (m Matrix, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = Matrix{}, fmt.Errorf("surgery: encoding texts: internal error: %v", r)
		}
	}()
	f, err := encode(ctx)
	if err != nil {
		return Matrix{}, fmt.Errorf("surgery: encoding texts: %w", err)
	}
	return FeatureMatrix(f), nil
}

// cacheKey joins texts and templates unambiguously (lengths prefix every item).
func cacheKey(texts, templates []string) string {
	var b strings.Builder
	write := func(list []string) {
		fmt.Fprintf(&b, "%d:", len(list))
		for _, s := range list {
			fmt.Fprintf(&b, "%d:%s", len(s), s)
		}
	}
	write(texts)
	if templates == nil {
		b.WriteString("|default")
	} else {
		b.WriteString("|")
		write(templates)
	}
	return b.String()
}
