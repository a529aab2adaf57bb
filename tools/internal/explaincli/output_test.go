package explaincli

import (
	"encoding/json"
	"testing"

	"github.com/clipsurgery/clipsurgery/surgery"
)

// The -json file keeps its format whatever the Go type of a point: "points" as [x, y] integer
// pairs and "labels" as numbers, in the order of the target's points.
func TestPointsJSONFormat(t *testing.T) {
	points, labels := pointsJSON([]surgery.Point{{X: 10, Y: 35, Label: 1}, {X: 70, Y: 5, Label: 0}, {X: 0, Y: 374, Label: 0}})
	data, err := json.Marshal(TargetReport{Text: "bench", Parts: []string{"bench"}, Overlay: "demo_bench.png", Points: points, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"text":"bench","parts":["bench"],"overlay":"demo_bench.png","points":[[10,35],[70,5],[0,374]],"labels":[1,0,0]}`
	if string(data) != want {
		t.Errorf("-json target\n got %s\nwant %s", data, want)
	}
}
