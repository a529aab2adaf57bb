package main

import (
	"flag"
	"io"

	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// config is the parsed command line: the explain flags (shared with tools/pipeline's explain job)
// and the text cache commands.
type config struct {
	explaincli.Config
	textCacheInfo  bool
	textCacheClear bool
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("clipsurgery", flag.ContinueOnError)
	f := explaincli.Register(fs, "image file, or a folder (every image in it)")
	fs.BoolVar(&c.textCacheInfo, "text-cache-info", false, "print where the prompt-embedding cache is and its size, then exit")
	fs.BoolVar(&c.textCacheClear, "text-cache-clear", false, "delete the cached prompt embeddings, then exit")
	if err := cli.Parse(fs, args, stderr, "clipsurgery -image FILE|DIR -text TEXT[,TEXT...] [options]"); err != nil {
		return nil, err
	}
	if c.textCacheInfo || c.textCacheClear {
		c.Ckpt = f.Checkpoint() // a cache command: no image needed, only -cache
		return c, nil
	}
	ec, err := f.Resolve(fs)
	if err != nil {
		return nil, err
	}
	c.Config = *ec
	return c, nil
}
