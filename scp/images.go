package scp

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// ImagePageSize is the page size used to list images: the API's maximum.
const ImagePageSize = 1000

// maxImagePages bounds paging, so an API that ignores the marker cannot keep
// the exporter listing forever.
const maxImagePages = 1000

// Image is an image as the image list describes it.
type Image struct {
	ID         string
	Name       string
	Status     string
	Visibility string // private, shared, community or public
	Owner      string // the owning account's ID
	OSDistro   string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

type imageJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Visibility string `json:"visibility"`
	Owner      string `json:"owner"`
	OSDistro   string `json:"os_distro"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

type imagesJSON struct {
	Images *[]imageJSON `json:"images"`
}

// ListImages lists the images of one visibility (GET /v1/images), following
// the marker until a page comes back shorter than the page size.
func (c *Client) ListImages(ctx context.Context, visibility string) ([]Image, error) {
	var all []Image
	marker := ""
	for page := 0; ; page++ {
		if page == maxImagePages {
			return nil, fmt.Errorf("%s: more than %d pages of %d images", OpListImages, maxImagePages, ImagePageSize)
		}
		q := url.Values{"limit": {strconv.Itoa(ImagePageSize)}}
		if visibility != "" {
			q.Set("visibility", visibility)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		var body imagesJSON
		if err := c.get(ctx, OpListImages, "/v1/images", q, &body); err != nil {
			return nil, err
		}
		images, err := decodeImages(OpListImages, body)
		if err != nil {
			c.opts.Metrics.failed(OpListImages, ReasonDecode)
			return nil, err
		}
		all = append(all, images...)
		if len(images) < ImagePageSize {
			return all, nil
		}
		last := images[len(images)-1].ID
		if last == marker {
			c.opts.Metrics.failed(OpListImages, ReasonDecode)
			return nil, &DecodeError{Operation: string(OpListImages), Err: fmt.Errorf("paging did not advance past marker %s", marker)}
		}
		marker = last
	}
}

func decodeImages(op Operation, body imagesJSON) ([]Image, error) {
	if body.Images == nil {
		return nil, &DecodeError{Operation: string(op), Err: fmt.Errorf("no \"images\" list in the answer")}
	}
	out := make([]Image, 0, len(*body.Images))
	for i, im := range *body.Images {
		if err := ValidateImageID(im.ID); err != nil {
			return nil, &DecodeError{Operation: string(op), Err: fmt.Errorf("image %d: %w", i, err)}
		}
		out = append(out, Image{
			ID:         im.ID,
			Name:       sanitize(im.Name, 256),
			Status:     im.Status,
			Visibility: im.Visibility,
			Owner:      im.Owner,
			OSDistro:   im.OSDistro,
			CreatedAt:  parseTime(im.CreatedAt),
			UpdatedAt:  parseTime(im.UpdatedAt),
		})
	}
	return out, nil
}
