package modelkit

// Point is one point prompt on an image: pixel coordinates of the original image (X to the right,
// Y down, as SAM's point_coords) and a label. CLIP Surgery makes them (whole pixels, labels 1 and
// 0) and SAM takes them (any coordinates inside the image, labels 1, 0 or −1), so the type lives
// below both model packages; surgery and sam re-export it as Point.
type Point struct {
	X, Y float64
	// Label is 1 for a foreground (positive) point, 0 for a background (negative) one; SAM also
	// accepts −1, a point it ignores (its not-a-point embedding).
	Label int
}
