package registry

// CacheRoot is the checkpoint cache folder for dir: dir itself when set, else $CLIPSURGERY_CACHE,
// else ~/.cache/clip. Other caches (the text embeddings) live under it.
func CacheRoot(dir string) (string, error) { return Options{CacheDir: dir}.cacheDir() }
