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

// PendingImage is an image another account offers to this one, awaiting an
// answer (GET /v1/pending-images).
type PendingImage struct {
	ID        string
	Name      string
	Owner     string // the offering account's ID
	OwnerName string // the offering account's name, when the API gives it
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
		images, raws, entries, err := decodeImageList(OpListImages, body, c.anomalies(OpListImages, "visibility", visibility))
		if err != nil {
			c.opts.Metrics.decodeFailed(OpListImages)
			return nil, err
		}
		all = append(all, images...)
		if entries < ImagePageSize {
			return all, nil
		}
		if len(raws) == 0 {
			c.opts.Metrics.decodeFailed(OpListImages)
			return nil, &DecodeError{Operation: string(OpListImages), Err: fmt.Errorf("a full page without one readable image to page from")}
		}
		last := images[len(images)-1].ID
		if last == marker {
			c.opts.Metrics.decodeFailed(OpListImages)
			return nil, &DecodeError{Operation: string(OpListImages), Err: fmt.Errorf("paging did not advance past marker %s", marker)}
		}
		marker = last
	}
}

// ShowImage returns one image (GET /v1/images/{image_id}).
func (c *Client) ShowImage(ctx context.Context, imageID string) (Image, error) {
	if err := ValidateImageID(imageID); err != nil {
		return Image{}, fmt.Errorf("%s: %w", OpShowImage, err)
	}
	var body imageJSON
	if err := c.get(ctx, OpShowImage, "/v1/images/"+url.PathEscape(imageID), nil, &body); err != nil {
		return Image{}, err
	}
	var why string
	img, ok := body.decode(func(kind, detail string) {
		if kind == AnomalyInvalidImageID {
			why = detail
		}
		c.anomalies(OpShowImage, "image_id", imageID)(kind, detail)
	})
	if !ok {
		c.opts.Metrics.decodeFailed(OpShowImage)
		return Image{}, &DecodeError{Operation: string(OpShowImage), Err: fmt.Errorf("%s", why)}
	}
	return img, nil
}

// ListPendingImages lists the images other accounts offer to this one
// (GET /v1/pending-images).
func (c *Client) ListPendingImages(ctx context.Context) ([]PendingImage, error) {
	var body imagesJSON
	if err := c.get(ctx, OpListPendingImages, "/v1/pending-images", nil, &body); err != nil {
		return nil, err
	}
	report := c.anomalies(OpListPendingImages)
	images, raws, _, err := decodeImageList(OpListPendingImages, body, report)
	if err != nil {
		c.opts.Metrics.decodeFailed(OpListPendingImages)
		return nil, err
	}
	out := make([]PendingImage, 0, len(images))
	seen := make(map[string]bool, len(images))
	for i, img := range images {
		if seen[img.ID] {
			continue // an offer listed twice is one offer
		}
		seen[img.ID] = true
		if img.Owner == "" {
			// Kept: an offer from an owner nobody can name is exactly one
			// that is not expected.
			report(AnomalyMissingOwner, "offered image "+img.ID+" has no readable owner")
		}
		out = append(out, PendingImage{ID: img.ID, Name: img.Name, Owner: img.Owner, OwnerName: sanitize(raws[i].OwnerAccountName.s, 128)})
	}
	return out, nil
}
