package scp

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
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
	ID               string `json:"id"`
	Name             string `json:"name"`
	Status           string `json:"status"`
	Visibility       string `json:"visibility"`
	Owner            string `json:"owner"`
	OwnerAccountName string `json:"owner_account_name"`
	OSDistro         string `json:"os_distro"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
}

type imagesJSON struct {
	Images *[]imageJSON `json:"images"`
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
		images, err := decodeImages(OpListImages, body)
		if err != nil {
			c.opts.Metrics.decodeFailed(OpListImages)
			return nil, err
		}
		all = append(all, images...)
		if len(images) < ImagePageSize {
			return all, nil
		}
		last := images[len(images)-1].ID
		if last == marker {
			c.opts.Metrics.decodeFailed(OpListImages)
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
		img, err := im.decode()
		if err != nil {
			return nil, &DecodeError{Operation: string(op), Err: fmt.Errorf("image %d: %w", i, err)}
		}
		out = append(out, img)
	}
	return out, nil
}

// decode checks an image's ID and cleans the fields that may become label
// values: names are cut to printable text, visibility and owner must have
// the forms the API defines.
func (im imageJSON) decode() (Image, error) {
	if err := ValidateImageID(im.ID); err != nil {
		return Image{}, err
	}
	if im.Visibility != "" && !validStatus(im.Visibility) {
		return Image{}, fmt.Errorf("image %s: visibility %q is malformed", im.ID, sanitize(im.Visibility, 40))
	}
	if im.Owner != "" {
		if err := ValidateMemberID(im.Owner); err != nil {
			return Image{}, fmt.Errorf("image %s: owner: %w", im.ID, err)
		}
	}
	return Image{
		ID:         im.ID,
		Name:       sanitize(im.Name, 256),
		Status:     sanitize(im.Status, 40),
		Visibility: strings.ToLower(im.Visibility),
		Owner:      im.Owner,
		OSDistro:   sanitize(im.OSDistro, 64),
		CreatedAt:  parseTime(im.CreatedAt),
		UpdatedAt:  parseTime(im.UpdatedAt),
	}, nil
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
	img, err := body.decode()
	if err != nil {
		c.opts.Metrics.decodeFailed(OpShowImage)
		return Image{}, &DecodeError{Operation: string(OpShowImage), Err: err}
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
	fail := func(err error) error {
		c.opts.Metrics.decodeFailed(OpListPendingImages)
		return &DecodeError{Operation: string(OpListPendingImages), Err: err}
	}
	if body.Images == nil {
		return nil, fail(fmt.Errorf("no \"images\" list in the answer"))
	}
	out := make([]PendingImage, 0, len(*body.Images))
	for i, im := range *body.Images {
		img, err := im.decode()
		if err != nil {
			return nil, fail(fmt.Errorf("image %d: %w", i, err))
		}
		if img.Owner == "" {
			return nil, fail(fmt.Errorf("image %d (%s): no owner", i, img.ID))
		}
		out = append(out, PendingImage{ID: img.ID, Name: img.Name, Owner: img.Owner, OwnerName: sanitize(im.OwnerAccountName, 128)})
	}
	return out, nil
}
