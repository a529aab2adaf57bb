package nbutil

import (
	"fmt"
	"html"
	"image"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
)

// Panel is one captioned picture of a row.
type Panel struct {
	Caption string
	Image   image.Image
}

// PanelHTML renders panels side by side, each at most maxWidth pixels wide (0 = 320), as HTML with
// the pictures embedded as PNG. A picture at most half that wide (the 14×14 token grid) is
// enlarged with nearest-neighbour pixels (Enlarge) to about maxWidth.
func PanelHTML(maxWidth int, panels ...Panel) (string, error) {
	if maxWidth <= 0 {
		maxWidth = 320
	}
	var b strings.Builder
	b.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">`)
	for _, p := range panels {
		if p.Image == nil {
			return "", fmt.Errorf("nbutil: panel %q has no image", p.Caption)
		}
		img, rendering := p.Image, "auto"
		if f := enlargeFactor(img.Bounds().Dx(), maxWidth); f > 1 {
			img, rendering = Enlarge(img, f), "pixelated"
		}
		src, err := gonbui.EmbedImageAsPNGSrc(img)
		if err != nil {
			return "", fmt.Errorf("nbutil: panel %q: %w", p.Caption, err)
		}
		w := min(img.Bounds().Dx(), maxWidth)
		fmt.Fprintf(&b, `<figure style="margin:0"><img src="%s" style="width:%dpx;image-rendering:%s"/>`+
			`<figcaption style="font-size:12px;max-width:%dpx">%s</figcaption></figure>`,
			src, w, rendering, w, html.EscapeString(p.Caption))
	}
	b.WriteString(`</div>`)
	return b.String(), nil
}

// Show displays panels side by side in the notebook (outside a notebook it prints the captions).
func Show(maxWidth int, panels ...Panel) error {
	if !gonbui.IsNotebook {
		for _, p := range panels {
			fmt.Println("[image]", p.Caption)
		}
		return nil
	}
	h, err := PanelHTML(maxWidth, panels...)
	if err != nil {
		return err
	}
	gonbui.DisplayHTML(h)
	return nil
}

// Markdown displays Markdown in the notebook (printed as is outside one).
func Markdown(md string) {
	if !gonbui.IsNotebook {
		fmt.Println(md)
		return
	}
	gonbui.DisplayMarkdown(md)
}

// ShowBars displays BarChartSVG's chart.
func ShowBars(title string, bars []Bar) error {
	svg, err := BarChartSVG(title, bars)
	if err != nil {
		return err
	}
	if !gonbui.IsNotebook {
		fmt.Println("[bar chart]", title)
		return nil
	}
	gonbui.DisplaySVG(svg)
	return nil
}
