package surgery

import "slices"

// DemoClasses returns (a fresh copy of) the 59 classes (Pascal Context) of the reference's
// demo.py (all_texts): the default label set.
func DemoClasses() []string { return slices.Clone(demoClasses) }

var demoClasses = []string{
	"airplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle", "building",
	"bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain", "dog",
	"door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light", "motorbike",
	"mountain", "mouse", "person", "plate", "platform", "potted plant", "road", "rock", "sheep", "shelves",
	"sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tv monitor", "wall",
	"water", "window", "wood",
}
