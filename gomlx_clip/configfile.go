package clip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/weights"
)

// Layout is the file layout a model was loaded from: which config file (if any) completed the
// architecture its shapes show.
type Layout string

const (
	LayoutOpenAI   Layout = "openai"      // no config: OpenAI's conventions (QuickGELU, eps 1e-5, width/64 heads)
	LayoutOpenCLIP Layout = "open_clip"   // open_clip's hub layout: open_clip_config.json
	LayoutHF       Layout = "huggingface" // a Hugging Face CLIPModel: config.json
)

// Config file names, as open_clip and transformers write them.
const (
	OpenCLIPConfigName = "open_clip_config.json"
	HFConfigName       = "config.json"
	HFPreprocessorName = "preprocessor_config.json"
)

// maxConfigBytes bounds a config file read: the largest real ones are a few kilobytes.
const maxConfigBytes = 1 << 20

// archConfig is what a config file states about a checkpoint. apply checks every size it states
// against the shapes the weights show and completes a Config with what shapes cannot show.
type archConfig struct {
	file   string // the file's path, for messages
	layout Layout
	resNet *bool // the image tower kind the config states (nil: not stated)
	checks []sizeCheck

	visionHeads, textHeads       int    // heads the config gives
	visionHeadsKey, textHeadsKey string // their keys ("": not given, keep OpenAI's width/64)
	visionAct, textAct           Activation
	visionEps, textEps           float64
	noLnPre, finalLNAfterPool    bool
	pool                         VisionPool
	tokens                       tokenizer.Convention
	preprocess                   imageprep.Transform // Size is set by apply: the native resolution
}

// sizeCheck is one size a config states (or defaults) and where the weights show it.
type sizeCheck struct {
	key  string           // the config key, named by the error
	want int              // the value the config gives
	got  func(Config) int // the value the shapes give
	what string           // what shows it in the weights
}

func (a *archConfig) check(key string, want int, what string, got func(Config) int) {
	a.checks = append(a.checks, sizeCheck{key: key, want: want, got: got, what: what})
}

// apply returns c completed by the config, or a one-line error naming the first key that
// contradicts the weights.
func (a *archConfig) apply(c Config, t map[string]*weights.Tensor) (Config, error) {
	if a.resNet != nil && *a.resNet != (c.Vision == ResNet) {
		want := "a ViT"
		if *a.resNet {
			want = "a ModifiedResNet"
		}
		return c, fmt.Errorf("clip: %s describes %s image tower but the weights hold a %s", a.file, want, c.Vision)
	}
	for _, k := range a.checks {
		if got := k.got(c); got != k.want {
			return c, fmt.Errorf("clip: %s: %s %d contradicts the weights (%s: %d)", a.file, k.key, k.want, k.what, got)
		}
	}
	if a.visionHeadsKey != "" {
		c.VisionHeads = a.visionHeads
	}
	if a.textHeadsKey != "" {
		c.TextHeads = a.textHeads
	}
	vw := c.VisionWidth
	if c.Vision == ResNet {
		vw = c.AttnPoolWidth()
	}
	if c.VisionHeads <= 0 || vw%c.VisionHeads != 0 {
		return c, fmt.Errorf("clip: %s: %s gives %d heads, which do not split the image tower's width %d", a.file, a.visionHeadsKey, c.VisionHeads, vw)
	}
	if c.TextHeads <= 0 || c.TextWidth%c.TextHeads != 0 {
		return c, fmt.Errorf("clip: %s: %s gives %d heads, which do not split the text width %d", a.file, a.textHeadsKey, c.TextHeads, c.TextWidth)
	}
	if _, has := t["visual.ln_pre.weight"]; a.noLnPre && has {
		return c, fmt.Errorf("clip: %s: model_cfg.vision_cfg.no_ln_pre is true but the weights hold visual.ln_pre.weight", a.file)
	}
	c.VisionAct, c.TextAct = a.visionAct, a.textAct
	c.VisionEps, c.TextEps = a.visionEps, a.textEps
	c.NoLnPre, c.FinalLNAfterPool, c.Pool = a.noLnPre, a.finalLNAfterPool, a.pool
	c.Tokenizer = a.tokens
	c.Preprocess = a.preprocess
	c.Preprocess.Size = c.ImageResolution
	if err := c.Preprocess.Validate(); err != nil {
		return c, fmt.Errorf("clip: %s: preprocessing: %w", a.file, err)
	}
	return c, nil
}

// readArchConfig parses a config file of either layout, told apart by content: open_clip's has
// "model_cfg", a Hugging Face CLIPConfig has "model_type". A Hugging Face config reads the
// preprocessor_config.json beside it, if any.
func readArchConfig(path string) (*archConfig, error) {
	data, err := safefile.ReadFile(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("clip: config %w", err)
	}
	top, err := parseJSONObject(path, data)
	if err != nil {
		return nil, err
	}
	if _, ok := top.m["model_cfg"]; ok {
		return parseOpenCLIPConfig(top)
	}
	if _, ok := top.m["model_type"]; ok {
		pre, err := readHFPreprocessor(filepath.Join(filepath.Dir(path), HFPreprocessorName))
		if err != nil {
			return nil, err
		}
		return parseHFConfig(top, pre)
	}
	return nil, fmt.Errorf("clip: %s is neither an open_clip config (no model_cfg) nor a Hugging Face one (no model_type)", path)
}

// jsonObject is one JSON object of a config file with its key path, for messages. Numbers are
// kept as json.Number; JSON null is read as an absent key (Python None: the default).
type jsonObject struct {
	file, path string
	m          map[string]any
}

func parseJSONObject(file string, data []byte) (jsonObject, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return jsonObject{}, fmt.Errorf("clip: %s is not a JSON object: %v", file, err)
	}
	return jsonObject{file: file, m: m}, nil
}

func (o jsonObject) key(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

func (o jsonObject) bad(k string, v any, want string) error {
	return fmt.Errorf("clip: %s: %s is %.60s, want %s", o.file, o.key(k), fmt.Sprint(v), want)
}

func (o jsonObject) has(k string) bool { return o.m[k] != nil }

func (o jsonObject) int(k string, def int) (int, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		return def, nil
	}
	n, isNum := v.(json.Number)
	i, err := n.Int64()
	if !isNum || err != nil || i < 0 || i > 1<<30 {
		return 0, o.bad(k, v, "a non-negative integer")
	}
	return int(i), nil
}

func (o jsonObject) float(k string, def float64) (float64, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		return def, nil
	}
	n, isNum := v.(json.Number)
	f, err := n.Float64()
	if !isNum || err != nil {
		return 0, o.bad(k, v, "a number")
	}
	return f, nil
}

func (o jsonObject) bool(k string, def bool) (bool, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		return def, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, o.bad(k, v, "true or false")
	}
	return b, nil
}

func (o jsonObject) str(k, def string) (string, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		return def, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", o.bad(k, v, "a string")
	}
	return s, nil
}

// obj returns the object under k (an empty one when absent or null).
func (o jsonObject) obj(k string) (jsonObject, error) {
	sub := jsonObject{file: o.file, path: o.key(k), m: map[string]any{}}
	v, ok := o.m[k]
	if !ok || v == nil {
		return sub, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return sub, o.bad(k, v, "an object")
	}
	sub.m = m
	return sub, nil
}

// onlyKeys refuses a key outside known (sorted, so the error is the same on every run).
func (o jsonObject) onlyKeys(known ...string) error {
	var unknown []string
	for k := range o.m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("clip: %s: unknown architecture option %s (not supported)", o.file, o.key(unknown[0]))
}

// unsupported refuses a key whose value is not its harmless default: why says what it would take.
func (o jsonObject) unsupported(k, why string) error {
	return fmt.Errorf("clip: %s: %s = %.60s is not supported (%s)", o.file, o.key(k), fmt.Sprint(o.m[k]), why)
}
