package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/webhook"
)

// Webhooks serves the org API's webhook endpoints (/api/v1/webhooks...),
// behind the same authentication as the rest of the org API (OrgGroup): a
// private key of the organization with keys:manage.
type Webhooks struct {
	svc    *webhook.Service
	logger *slog.Logger
}

// NewWebhooks returns the org API's webhook handlers over svc.
func NewWebhooks(svc *webhook.Service, logger *slog.Logger) *Webhooks {
	if logger == nil {
		logger = slog.Default()
	}
	return &Webhooks{svc: svc, logger: logger}
}

func (w *Webhooks) fail(err error) *Problem {
	p := serviceProblem(err)
	if p.GetStatus() >= 500 {
		w.logger.Error("management API request failed", "err", err)
	}
	return p
}

// Webhook is an endpoint as the API shows it; its secret only once, in
// CreatedWebhook.
type Webhook struct {
	ID          string    `json:"id" format:"uuid" example:"01960c2a-1f0b-7c55-a0e1-3b6d2f9e8a41"`
	URL         string    `json:"url" example:"https://hooks.example.com/keyplane"`
	Description string    `json:"description" example:"Billing backend"`
	Events      []string  `json:"events" nullable:"false" example:"[\"key.revoked\",\"key.leaked\"]" doc:"The event types it receives; [\"*\"] for every one."`
	Status      string    `json:"status" enum:"active,paused"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreatedWebhook is a new endpoint, or one whose secret was rotated, with
// its signing secret, answered once.
type CreatedWebhook struct {
	Webhook
	Secret string `json:"secret" example:"whsec_c2lnbmluZyBzZWNyZXQgZXhhbXBsZSBvbmx5IDAxMjM0NQ==" doc:"The signing secret: whsec_ and the base64 of 32 random bytes. Shown once: store it now."`
}

// WebhookList is every endpoint of the organization, oldest first.
type WebhookList struct {
	Data []Webhook `json:"data" nullable:"false"`
}

// WebhookBody registers an endpoint.
type WebhookBody struct {
	URL         string   `json:"url" maxLength:"2000" example:"https://hooks.example.com/keyplane" doc:"http or https; never a loopback, private, link-local, CGNAT, ULA or IPv4-mapped address (422, field url), unless the server allows them."`
	Description string   `json:"description,omitempty" maxLength:"200" example:"Billing backend"`
	Events      []string `json:"events" maxItems:"32" example:"[\"key.revoked\",\"key.leaked\"]" doc:"Event types, or [\"*\"] for every one."`
}

// WebhookChanges are what PATCH may change; an absent property keeps its
// value.
type WebhookChanges struct {
	URL         *string   `json:"url,omitempty" maxLength:"2000"`
	Description *string   `json:"description,omitempty" maxLength:"200"`
	Events      *[]string `json:"events,omitempty" maxItems:"32"`
	Paused      *bool     `json:"paused,omitempty" doc:"true pauses the endpoint (no new deliveries; pending ones wait), false resumes it."`
}

// WebhookDelivery is one event sent, or to be sent, to an endpoint.
type WebhookDelivery struct {
	ID            string     `json:"id" example:"msg_01960c2b4e7a7d3c9f1e2a3b4c5d6e7f" doc:"The webhook-id header: receivers dedupe on it."`
	Type          string     `json:"type" example:"key.revoked"`
	Status        string     `json:"status" enum:"pending,succeeded,failed,refused"`
	Attempts      int        `json:"attempts"`
	ResponseCode  *int       `json:"response_code" nullable:"true" doc:"The HTTP status of the last attempt; null when none answered."`
	Error         string     `json:"error" doc:"Why the last attempt failed; empty otherwise."`
	CreatedAt     time.Time  `json:"created_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at" nullable:"true"`
	NextAttemptAt *time.Time `json:"next_attempt_at" nullable:"true" doc:"When the next attempt is due, while pending."`
}

// WebhookDeliveryList is a page of deliveries, newest first.
type WebhookDeliveryList struct {
	Data       []WebhookDelivery `json:"data" nullable:"false"`
	NextCursor *string           `json:"next_cursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page."`
}

type webhookOutput struct{ Body Webhook }

type webhookListOutput struct{ Body WebhookList }

type createdWebhookOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         CreatedWebhook
}

type deliveryOutput struct{ Body WebhookDelivery }

type deliveryListOutput struct{ Body WebhookDeliveryList }

// WebhookInput names one endpoint.
type WebhookInput struct {
	ID string `path:"id" doc:"The endpoint's id."`
}

// CreateWebhookInput registers an endpoint.
type CreateWebhookInput struct {
	Body WebhookBody
}

// UpdateWebhookInput changes an endpoint.
type UpdateWebhookInput struct {
	ID   string `path:"id" doc:"The endpoint's id."`
	Body WebhookChanges
}

// ListDeliveriesInput pages through an endpoint's deliveries.
type ListDeliveriesInput struct {
	ID     string `path:"id" doc:"The endpoint's id."`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50" doc:"Deliveries per page."`
	Cursor string `query:"cursor" maxLength:"100" doc:"next_cursor of the previous page."`
}

// DeliveryInput names one delivery of an endpoint.
type DeliveryInput struct {
	ID         string `path:"id" doc:"The endpoint's id."`
	DeliveryID string `path:"delivery_id" doc:"The delivery's id (its webhook-id)."`
}

func webhookJSON(e webhook.Endpoint) Webhook {
	status := "active"
	if e.Paused() {
		status = "paused"
	}
	return Webhook{
		ID: e.ID, URL: e.URL, Description: e.Description, Events: orEmpty(e.Events), Status: status,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}

func deliveryJSON(d webhook.Delivery) WebhookDelivery {
	out := WebhookDelivery{
		ID: d.ID, Type: d.EventType, Status: string(d.Status), Attempts: d.Attempts, ResponseCode: d.LastStatusCode,
		Error: d.LastError, CreatedAt: d.CreatedAt.UTC(), LastAttemptAt: utc(d.LastAttemptAt),
	}
	if d.Status == webhook.Pending {
		out.NextAttemptAt = utc(d.NextAttemptAt)
	}
	return out
}

// ListWebhooks is GET /api/v1/webhooks.
func (w *Webhooks) ListWebhooks(ctx context.Context, _ *struct{}) (*webhookListOutput, error) {
	list, err := w.svc.List(ctx, credentialOf(ctx).key.OrgID)
	if err != nil {
		return nil, w.fail(err)
	}
	out := WebhookList{Data: make([]Webhook, 0, len(list))}
	for _, e := range list {
		out.Data = append(out.Data, webhookJSON(e))
	}
	return &webhookListOutput{Body: out}, nil
}

// CreateWebhook is POST /api/v1/webhooks: 201 with the secret, once.
func (w *Webhooks) CreateWebhook(ctx context.Context, in *CreateWebhookInput) (*createdWebhookOutput, error) {
	cred := credentialOf(ctx)
	c, err := w.svc.Create(ctx, cred.key.OrgID, webhook.Input{URL: in.Body.URL, Description: in.Body.Description, Events: in.Body.Events}, cred.actor)
	if err != nil {
		return nil, w.fail(err)
	}
	return &createdWebhookOutput{CacheControl: "no-store", Body: CreatedWebhook{Webhook: webhookJSON(c.Endpoint), Secret: c.Secret}}, nil
}

// GetWebhook is GET /api/v1/webhooks/{id}.
func (w *Webhooks) GetWebhook(ctx context.Context, in *WebhookInput) (*webhookOutput, error) {
	e, err := w.svc.Get(ctx, credentialOf(ctx).key.OrgID, in.ID)
	if err != nil {
		return nil, w.fail(err)
	}
	return &webhookOutput{Body: webhookJSON(e)}, nil
}

// UpdateWebhook is PATCH /api/v1/webhooks/{id}: 200 with the endpoint as
// it now is.
func (w *Webhooks) UpdateWebhook(ctx context.Context, in *UpdateWebhookInput) (*webhookOutput, error) {
	cred := credentialOf(ctx)
	orgID := cred.key.OrgID
	e, err := w.svc.Get(ctx, orgID, in.ID)
	if err != nil {
		return nil, w.fail(err)
	}
	ch := in.Body
	if ch.URL != nil || ch.Description != nil || ch.Events != nil {
		next := webhook.Input{URL: e.URL, Description: e.Description, Events: e.Events}
		if ch.URL != nil {
			next.URL = *ch.URL
		}
		if ch.Description != nil {
			next.Description = *ch.Description
		}
		if ch.Events != nil {
			next.Events = *ch.Events
		}
		if e, err = w.svc.Update(ctx, orgID, in.ID, next, cred.actor); err != nil {
			return nil, w.fail(err)
		}
	}
	if ch.Paused != nil && *ch.Paused != e.Paused() {
		if e, err = w.svc.SetPaused(ctx, orgID, in.ID, *ch.Paused, cred.actor); err != nil {
			return nil, w.fail(err)
		}
	}
	return &webhookOutput{Body: webhookJSON(e)}, nil
}

// DeleteWebhook is DELETE /api/v1/webhooks/{id}: 200 with the endpoint as
// it was.
func (w *Webhooks) DeleteWebhook(ctx context.Context, in *WebhookInput) (*webhookOutput, error) {
	cred := credentialOf(ctx)
	e, err := w.svc.Delete(ctx, cred.key.OrgID, in.ID, cred.actor)
	if err != nil {
		return nil, w.fail(err)
	}
	return &webhookOutput{Body: webhookJSON(e)}, nil
}

// RotateWebhookSecret is POST /api/v1/webhooks/{id}/rotate-secret: 200
// with the new secret, once.
func (w *Webhooks) RotateWebhookSecret(ctx context.Context, in *WebhookInput) (*createdWebhookOutput, error) {
	cred := credentialOf(ctx)
	c, err := w.svc.RotateSecret(ctx, cred.key.OrgID, in.ID, cred.actor)
	if err != nil {
		return nil, w.fail(err)
	}
	return &createdWebhookOutput{CacheControl: "no-store", Body: CreatedWebhook{Webhook: webhookJSON(c.Endpoint), Secret: c.Secret}}, nil
}

// ListWebhookDeliveries is GET /api/v1/webhooks/{id}/deliveries.
func (w *Webhooks) ListWebhookDeliveries(ctx context.Context, in *ListDeliveriesInput) (*deliveryListOutput, error) {
	list, more, err := w.svc.Deliveries(ctx, credentialOf(ctx).key.OrgID, in.ID, webhook.DeliveryPage{Size: in.Limit, Before: in.Cursor})
	if err != nil {
		return nil, w.fail(err)
	}
	out := WebhookDeliveryList{Data: make([]WebhookDelivery, 0, len(list))}
	for _, d := range list {
		out.Data = append(out.Data, deliveryJSON(d))
	}
	if more {
		next := list[len(list)-1].ID
		out.NextCursor = &next
	}
	return &deliveryListOutput{Body: out}, nil
}

// ResendWebhookDelivery is POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/resend:
// 202 with the delivery, due now.
func (w *Webhooks) ResendWebhookDelivery(ctx context.Context, in *DeliveryInput) (*deliveryOutput, error) {
	d, err := w.svc.Resend(ctx, credentialOf(ctx).key.OrgID, in.ID, in.DeliveryID)
	if err != nil {
		return nil, w.fail(err)
	}
	return &deliveryOutput{Body: deliveryJSON(d)}, nil
}

// TestWebhook is POST /api/v1/webhooks/{id}/test: 202 with the delivery of
// a webhook.test event to this endpoint alone.
func (w *Webhooks) TestWebhook(ctx context.Context, in *WebhookInput) (*deliveryOutput, error) {
	cred := credentialOf(ctx)
	d, err := w.svc.SendTest(ctx, cred.key.OrgID, in.ID, cred.actor)
	if err != nil {
		return nil, w.fail(err)
	}
	return &deliveryOutput{Body: deliveryJSON(d)}, nil
}

var exampleWebhook = Webhook{
	ID: "01960c2a-1f0b-7c55-a0e1-3b6d2f9e8a41", URL: "https://hooks.example.com/keyplane", Description: "Billing backend",
	Events: []string{"key.revoked", "key.leaked"}, Status: "active", CreatedAt: exampleTime, UpdatedAt: exampleTime,
}

var exampleCreatedWebhook = CreatedWebhook{Webhook: exampleWebhook, Secret: "whsec_c2lnbmluZyBzZWNyZXQgZXhhbXBsZSBvbmx5IDAxMjM0NQ=="}

var exampleCode = 200

var exampleDelivery = WebhookDelivery{
	ID: "msg_01960c2b4e7a7d3c9f1e2a3b4c5d6e7f", Type: "key.revoked", Status: "succeeded", Attempts: 1,
	ResponseCode: &exampleCode, CreatedAt: exampleRevoked, LastAttemptAt: &exampleRevoked,
}

func webhooksOp(op huma.Operation, request, response any) huma.Operation {
	op = documented(op, request, response)
	op.Tags = []string{"Webhooks"}
	return op
}

const webhookEventsDoc = " Events: key.created, key.updated, key.rotated, key.revoked, key.disabled, key.enabled, key.expiring, key.expired, key.idle, key.leaked, key.quota_low, key.quota_exhausted, member.added, member.removed, org.quota_low, org.quota_exhausted."

// ListWebhooksOp is GET /v1/webhooks.
func ListWebhooksOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "list-webhooks", Method: http.MethodGet, Path: "/webhooks", Summary: "List webhook endpoints",
		Description: "Every webhook endpoint of the organization, oldest first, in one page. Secrets are never listed.",
	}, nil, WebhookList{Data: []Webhook{exampleWebhook}})
}

// CreateWebhookOp is POST /v1/webhooks.
func CreateWebhookOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "create-webhook", Method: http.MethodPost, Path: "/webhooks", Summary: "Register a webhook endpoint",
		Description:   "Registers an endpoint and answers its signing secret, once (Cache-Control: no-store). Deliveries follow the Standard Webhooks specification: webhook-id, webhook-timestamp and webhook-signature (v1, HMAC-SHA256 of \"{id}.{timestamp}.{body}\" keyed with the base64-decoded part of the secret after whsec_), JSON bodies {\"type\", \"timestamp\", \"data\"}, retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. A URL on a loopback, private, link-local, CGNAT, ULA or IPv4-mapped address is 422 (field url)." + webhookEventsDoc,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, WebhookBody{URL: "https://hooks.example.com/keyplane", Description: "Billing backend", Events: []string{"key.revoked", "key.leaked"}}, exampleCreatedWebhook)
}

// GetWebhookOp is GET /v1/webhooks/{id}.
func GetWebhookOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "get-webhook", Method: http.MethodGet, Path: "/webhooks/{id}", Summary: "Get a webhook endpoint",
		Description: "One endpoint, without its secret.",
		Errors:      []int{http.StatusNotFound},
	}, nil, exampleWebhook)
}

// UpdateWebhookOp is PATCH /v1/webhooks/{id}.
func UpdateWebhookOp() huma.Operation {
	paused := true
	return webhooksOp(huma.Operation{
		OperationID: "update-webhook", Method: http.MethodPatch, Path: "/webhooks/{id}", Summary: "Change or pause a webhook endpoint",
		Description: "Changes the URL, description or events, and pauses (\"paused\": true) or resumes the endpoint. An absent property keeps its value. A paused endpoint gets no new deliveries; those pending wait until it is resumed.",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, WebhookChanges{Paused: &paused}, func() Webhook { w := exampleWebhook; w.Status = "paused"; return w }())
}

// DeleteWebhookOp is DELETE /v1/webhooks/{id}.
func DeleteWebhookOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "delete-webhook", Method: http.MethodDelete, Path: "/webhooks/{id}", Summary: "Delete a webhook endpoint",
		Description: "Deletes the endpoint and its deliveries, pending ones included. Answers the endpoint as it was.",
		Errors:      []int{http.StatusNotFound},
	}, nil, exampleWebhook)
}

// RotateWebhookSecretOp is POST /v1/webhooks/{id}/rotate-secret.
func RotateWebhookSecretOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "rotate-webhook-secret", Method: http.MethodPost, Path: "/webhooks/{id}/rotate-secret", Summary: "Rotate a webhook endpoint's secret",
		Description: "Gives the endpoint a new signing secret, answered once (Cache-Control: no-store). The old secret stops signing at once, retries of earlier events included.",
		Errors:      []int{http.StatusNotFound},
	}, nil, exampleCreatedWebhook)
}

// ListWebhookDeliveriesOp is GET /v1/webhooks/{id}/deliveries.
func ListWebhookDeliveriesOp() huma.Operation {
	return webhooksOp(huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/webhooks/{id}/deliveries", Summary: "List an endpoint's deliveries",
		Description: "The endpoint's deliveries, newest first, with their status, attempts and the last response code. A forged cursor is 422 (field cursor).",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, nil, WebhookDeliveryList{Data: []WebhookDelivery{exampleDelivery}})
}

// ResendWebhookDeliveryOp is POST /v1/webhooks/{id}/deliveries/{delivery_id}/resend.
func ResendWebhookDeliveryOp() huma.Operation {
	d := exampleDelivery
	d.Status, d.NextAttemptAt = "pending", &exampleRevoked
	return webhooksOp(huma.Operation{
		OperationID: "resend-webhook-delivery", Method: http.MethodPost, Path: "/webhooks/{id}/deliveries/{delivery_id}/resend", Summary: "Resend a delivery",
		Description:   "Makes a new attempt at the delivery now, with the same webhook-id. One already being sent is 409.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusConflict},
	}, nil, d)
}

// TestWebhookOp is POST /v1/webhooks/{id}/test.
func TestWebhookOp() huma.Operation {
	d := exampleDelivery
	d.Type, d.Status, d.Attempts, d.ResponseCode, d.LastAttemptAt, d.NextAttemptAt = "webhook.test", "pending", 0, nil, nil, &exampleRevoked
	return webhooksOp(huma.Operation{
		OperationID: "test-webhook", Method: http.MethodPost, Path: "/webhooks/{id}/test", Summary: "Send a test event",
		Description:   "Sends a webhook.test event to this endpoint alone, whatever events it wants.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, nil, d)
}
