// Package evaluate measures training-free CLIP methods on segmentation datasets with the numbers
// the field reports: open-vocabulary semantic segmentation (mIoU, mAcc, aAcc), CLIP Surgery's
// explainability metrics (mIoU of binarised per-class maps, mSC) and the pointing game. It drives
// a surgery.Explainer; tools/evaluate and notebooks/evaluation.ipynb call it, nothing below them
// does.
//
// # Datasets
//
// Open reads a folder in the Pascal VOC layout or the generic layout (see Layout) and a class
// file (see ReadClassFile; several comma-separated names per class). Label 255 (IgnoreIndex) is
// ignored by every metric. Masks must be index PNGs (palette or 8-bit grey): colour masks are
// refused rather than guessed. Items are read one at a time (LoadItem); a bad item is a counted
// skip of Run, never a partial contribution to the metrics.
//
// # Segmentation
//
// Predict scores every pixel from the method's raw similarity logits (surgery.Result.Similarity
// without the class token, before any min-max normalisation), resized bilinearly to the image
// (surgery.ResizeBilinear, PyTorch's align_corners=False as the peers' F.interpolate); a class
// takes the best of its names and the pixel the first class of maximum score (Scoring, with the
// peers' optional prob_thd background rule). Confusion accumulates mmsegmentation's
// intersect_and_union areas over the dataset and SegMetrics are its IoUMetric: IoU and Acc per
// class, nan-means over the defined classes, aAcc over all labelled pixels (checked against
// ../shared/golden/eval: areas exact, metrics to 1e-12).
//
// With ModelOptions.Slide the logits come from sliding windows instead (surgery.PixelSimilarity:
// each window's raw similarities resized to the window and averaged where windows overlap,
// mmsegmentation's slide mode as SCLIP, ClearCLIP and NACLIP evaluate): the same quantity at every
// pixel, so the scoring is unchanged and one window covering the image predicts exactly what the
// whole-image path predicts.
//
// # Peers' protocols
//
// LookupProtocol gives a peer's published evaluation on one of the eight benchmarks (Benchmarks;
// SCLIP, NACLIP and ClearCLIP from their configs, CLIP Surgery's with its assumptions stated), and
// PredictProtocol runs it on one image as the peer's segmentor does: mmcv's keep-ratio resize with
// OpenCV's bilinear, mmseg's normalisation, the peer's own window loop or whole-image path
// (protocol_forward.go), NACLIP's PAMR, and postprocess_result (softmax over names, best synonym,
// SCLIP's area_thd, prob_thd); checked against the peers' own outputs in
// ../shared/golden/protocols. Config.Protocol makes Run evaluate a preset; the report prints every
// value and the config it comes from.
//
// # Explainability and pointing game
//
// For every object class present in an image (class 0 is the background unless
// Config.NoBackground) the method's own explainability map — min-max normalised and resized as
// surgery.SimilarityMap draws it; with Slide the class's averaged plane min-maxed over the pixels
// — is scored alone, without argmax between classes: Explainability
// (mIoU over a threshold grid and mSC; definitions and the assumptions they rest on in
// explainability.go) and PointingGame (first row-major maximum within a tolerance, default 15 px,
// of the class's mask).
//
// # Methods
//
// A method is named by a string (-methods surgery,raw) resolved in one function, ResolveMethod;
// all methods of a Run share one Explainer, hence one cache of text features, and are evaluated on
// the same images.
package evaluate
