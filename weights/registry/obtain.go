package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Obtain returns a local file holding m's weights, trying in turn:
//  1. m.File in the checkpoint cache (Options.CacheDir, ~/.cache/clip), when its SHA-256 is m.SHA256:
//     the reference's checkpoint, downloaded earlier or placed there by hand; no network.
//  2. m.HFRepo on the Hugging Face hub (FetchHF's semantics: the hub cache first, shared with Python),
//     the first of OpenCLIPWeightFiles the repo holds.
//  3. m.URL, the reference's (Fetch), when the hub fails with a network error or does not have the
//     files (404); a corrupt hub download is an error, not a reason to go elsewhere.
//
// The file is a TorchScript archive (1, 3) or open_clip's state dict (2); both use OpenAI's tensor
// names. When everything fails the error is one line naming the hub repo and file and the reference's
// file to place by hand.
func Obtain(ctx context.Context, m Model, opt Options) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	dir, err := opt.cacheDir()
	if err != nil {
		return "", err
	}
	if _, ok, err := checkFinal(ctx, filepath.Join(dir, m.File), strings.ToLower(m.SHA256)); err != nil || ok {
		return filepath.Join(dir, m.File), err
	}
	if m.HFRepo == "" {
		return Fetch(ctx, m, opt)
	}
	paths, r, hubErr := fetchHub(ctx, m.HFRepo, "", pickFirst(m.HFRepo, OpenCLIPWeightFiles()), opt)
	if hubErr == nil {
		return paths[0], nil
	}
	if ctx.Err() != nil {
		return "", hubErr
	}
	if !errors.Is(hubErr, ErrNetwork) && !errors.Is(hubErr, ErrNotFound) && !errors.Is(hubErr, ErrOffline) {
		return "", r.unavailable(hubErr, m.HFFile)
	}
	p, urlErr := Fetch(ctx, m, opt)
	if urlErr == nil {
		if !opt.offline() {
			opt.warn("Hugging Face hub copy of %s unavailable (%v); used %s", m.Name, hubErr, m.URL)
		}
		return p, nil
	}
	if ctx.Err() != nil || !isUnavailable(urlErr) {
		return "", urlErr
	}
	var ue *UnavailableError
	if errors.As(urlErr, &ue) {
		urlErr = ue.Err
	}
	cause := fmt.Errorf("Hugging Face repo %s: %w; %s: %w", m.HFRepo, hubErr, host(m.URL), urlErr)
	if opt.offline() {
		cause = urlErr // says what made it offline, and whether a cached file had the wrong digest
	}
	return "", &UnavailableError{File: m.File, Dir: dir, URL: m.URL, Err: cause,
		Hint: fmt.Sprintf("to place it by hand, either run `hf download %s %s` (huggingface_hub) where the hub is reachable "+
			"and copy its folder %s into the Hugging Face cache %s ($%s / $%s), or put the reference's %s (SHA-256 %s) in %s",
			m.HFRepo, m.HFFile, r.folder(), r.cache, EnvHFHubCache, EnvHFHome, m.File, m.SHA256, dir)}
}

// pickFirst chooses the first of files that repo holds.
func pickFirst(repo string, files []string) hubPick {
	return func(has func(string) bool) ([]string, error) {
		for _, f := range files {
			if has(f) {
				return []string{f}, nil
			}
		}
		return nil, fmt.Errorf("repo %s holds none of %s", repo, strings.Join(files, ", "))
	}
}

func host(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
