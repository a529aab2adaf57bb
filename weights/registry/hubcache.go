package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// The hub cache is huggingface_hub's layout, so that Python and this module share downloads:
//
//	<cache>/models--org--name/blobs/<sha256 of an LFS file, or git blob id of a small one>
//	<cache>/models--org--name/snapshots/<commit>/<file> -> ../../blobs/<...>   (relative symlink)
//	<cache>/models--org--name/refs/<revision>            (the commit the revision last resolved to)
//	<cache>/.locks/models--org--name/<blob>.lock         (flock, also taken by huggingface_hub)

const defaultHFEndpoint = "https://huggingface.co"

// hubCacheDir is the hub cache folder, found as huggingface_hub finds it (constants.py: HF_HUB_CACHE,
// default $HF_HOME/hub, HF_HOME default $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface).
func (opt Options) hubCacheDir() (string, error) {
	if opt.HFCacheDir != "" {
		return expandHome(opt.HFCacheDir)
	}
	if d := os.Getenv(EnvHFHubCache); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv(EnvHFHome); d != "" {
		d, err := expandHome(d)
		return filepath.Join(d, "hub"), err
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no Hugging Face cache folder: set $%s or $%s (%w)", EnvHFHubCache, EnvHFHome, err)
	}
	return filepath.Join(home, ".cache", "huggingface", "hub"), nil
}

// HubCacheDir is the Hugging Face cache folder Options resolve to (see Options.HFCacheDir).
func HubCacheDir(opt Options) (string, error) { return opt.hubCacheDir() }

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

func (opt Options) hubEndpoint() string {
	e := opt.HFEndpoint
	if e == "" {
		e = os.Getenv(EnvHFEndpoint)
	}
	if e == "" {
		e = defaultHFEndpoint
	}
	return strings.TrimSuffix(e, "/")
}

// hubRepo is one model repo on the hub at one revision, and its folder in the hub cache.
type hubRepo struct {
	id, rev  string
	cache    string // hub cache root
	endpoint string
	opt      Options
}

var (
	// repoPart follows huggingface_hub's validate_repo_id for each side of "org/name".
	repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)
	revRe    = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
)

// checkRepoID accepts "org/name" ids the hub accepts, and nothing that could leave the cache folder.
func checkRepoID(id string) error {
	org, name, ok := strings.Cut(id, "/")
	if !ok || !repoPart.MatchString(org) || !repoPart.MatchString(name) || strings.Contains(id, "--") ||
		strings.Contains(id, "..") || strings.HasSuffix(id, ".git") {
		return fmt.Errorf("registry: %q is not a Hugging Face repo id (org/name)", id)
	}
	return nil
}

func checkRevision(rev string) error {
	if !revRe.MatchString(rev) || strings.Contains(rev, "..") {
		return fmt.Errorf("registry: %q is not a usable hub revision", rev)
	}
	return nil
}

func newHubRepo(id, rev string, opt Options) (*hubRepo, error) {
	if err := checkRepoID(id); err != nil {
		return nil, err
	}
	if rev == "" {
		rev = opt.HFRevision
	}
	if rev == "" {
		rev = "main"
	}
	if err := checkRevision(rev); err != nil {
		return nil, err
	}
	cache, err := opt.hubCacheDir()
	if err != nil {
		return nil, err
	}
	return &hubRepo{id: id, rev: rev, cache: cache, endpoint: opt.hubEndpoint(), opt: opt}, nil
}

// folder is the repo's cache folder name, "models--org--name".
func (r *hubRepo) folder() string { return "models--" + strings.ReplaceAll(r.id, "/", "--") }

func (r *hubRepo) dir() string { return filepath.Join(r.cache, r.folder()) }

func (r *hubRepo) snapshotPath(commit, file string) string {
	return filepath.Join(r.dir(), "snapshots", commit, filepath.FromSlash(file))
}

// fileURL is where the hub serves file at rev (for messages; downloads name the commit).
func (r *hubRepo) fileURL(rev, file string) string {
	return r.endpoint + "/" + r.id + "/resolve/" + rev + "/" + file
}

// cachedCommit is the commit rev stands for without asking the hub: rev itself when it is one, else
// refs/<rev> (huggingface_hub) or info/<rev> (go-huggingface's cached repo info, field "sha").
func (r *hubRepo) cachedCommit() (string, bool) {
	if isHex(r.rev, 40) {
		return strings.ToLower(r.rev), true
	}
	commit := ""
	if b, err := os.ReadFile(filepath.Join(r.dir(), "refs", filepath.FromSlash(r.rev))); err == nil {
		commit = strings.TrimSpace(string(b))
	} else if b, err := os.ReadFile(filepath.Join(r.dir(), "info", filepath.FromSlash(r.rev))); err == nil {
		var info struct {
			SHA string `json:"sha"`
		}
		if json.Unmarshal(b, &info) == nil {
			commit = info.SHA
		}
	}
	return commit, isHex(commit, 40)
}

// cached reports whether file of commit is in the snapshot (a dangling link is not).
func (r *hubRepo) cached(commit, file string) bool {
	st, err := os.Stat(r.snapshotPath(commit, file))
	return err == nil && st.Mode().IsRegular()
}

// setRef records that r.rev resolved to commit, as huggingface_hub does, so that an offline run
// (here or in Python) finds the snapshot.
func (r *hubRepo) setRef(commit string) error {
	if isHex(r.rev, 40) {
		return nil
	}
	p := filepath.Join(r.dir(), "refs", filepath.FromSlash(r.rev))
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return safefile.WriteAtomic(p, func(w io.Writer) error { _, err := io.WriteString(w, commit); return err })
}

// linkSnapshot points snap at blob with a relative symlink, as huggingface_hub does (the cache can be
// moved). The link is made beside snap and renamed over it, so snap is never a half-made link.
func linkSnapshot(snap, blob string) error {
	if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(snap), blob)
	if err != nil {
		rel = blob
	}
	tmp := snap + ".link.tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, snap); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
