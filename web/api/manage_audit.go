package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/audit"
)

// AuditEvent is one event of the organization's audit log.
type AuditEvent struct {
	ID        string      `json:"id" format:"uuid"`
	At        time.Time   `json:"at" doc:"When it happened (UTC)."`
	Actor     string      `json:"actor" example:"kp_sk_live_…a9Qz \"CI deployer\"" doc:"A member's email, an API key as its hint and description, or keyplane (command line)."`
	Action    string      `json:"action" example:"key.created"`
	Target    AuditTarget `json:"target" doc:"What the event is about."`
	IP        string      `json:"ip" example:"203.0.113.7"`
	UserAgent string      `json:"user_agent" example:"deploy-bot/1.0"`
}

// AuditTarget is what an audit event is about.
type AuditTarget struct {
	Type string `json:"type" example:"api_key" doc:"api_key, user, invite or org."`
	ID   string `json:"id" example:"01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70"`
}

// AuditList is a page of audit events.
type AuditList struct {
	Data       []AuditEvent `json:"data" nullable:"false"`
	NextCursor *string      `json:"next_cursor" nullable:"true" doc:"Pass as cursor for the next (older) page; null on the last page."`
}

// AuditInput filters and pages the audit log.
type AuditInput struct {
	Action string `query:"action" maxLength:"100" doc:"Only this action (one of the actions in the operation's description)."`
	Actor  string `query:"actor" maxLength:"254" doc:"Only actors whose name contains this, in any case: part of an email, or of a key's hint or description."`
	From   string `query:"from" maxLength:"10" example:"2026-03-01" doc:"Only events on or after this UTC date (YYYY-MM-DD)."`
	To     string `query:"to" maxLength:"10" example:"2026-03-31" doc:"Only events on or before this UTC date (YYYY-MM-DD)."`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50" doc:"Events per page."`
	Cursor string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page."`
}

type auditListOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         AuditList
}

// auditCursorScope keeps audit cursors apart from key list cursors.
func auditCursorScope(orgID string) string { return "audit\x00" + orgID }

// filter is in as the audit service's filter, or the fields that are
// wrong: an unknown action, a date that is not YYYY-MM-DD.
func (in *AuditInput) filter() (audit.Filter, map[string]string) {
	f := audit.Filter{Action: in.Action, Actor: strings.TrimSpace(in.Actor)}
	bad := map[string]string{}
	if f.Action != "" && !slices.Contains(audit.Actions, f.Action) {
		bad["action"] = "Unknown action; use one of: " + strings.Join(audit.Actions, ", ") + "."
	}
	if in.From != "" {
		d, err := time.Parse(time.DateOnly, in.From)
		if err != nil {
			bad["from"] = "Use a date as YYYY-MM-DD."
		}
		f.From = d
	}
	if in.To != "" {
		d, err := time.Parse(time.DateOnly, in.To)
		if err != nil {
			bad["to"] = "Use a date as YYYY-MM-DD."
		}
		f.To = d.AddDate(0, 0, 1)
	}
	return f, bad
}

// ListAudit is GET /api/v1/audit: the organization's audit events, newest
// first, filtered as in the dashboard and paged by cursor.
func (m *Management) ListAudit(ctx context.Context, in *AuditInput) (*auditListOutput, error) {
	orgID := credentialOf(ctx).key.OrgID
	f, bad := in.filter()
	page := audit.Page{Size: in.Limit}
	if page.Size <= 0 {
		page.Size = 50
	}
	if in.Cursor != "" {
		at, id, ok := m.parseCursor(auditCursorScope(orgID), in.Cursor)
		if !ok {
			bad["cursor"] = "This cursor was not issued by this server for this organization's audit log; pass next_cursor unchanged."
		}
		page.Before = &audit.Cursor{At: at, ID: id}
	}
	if len(bad) > 0 {
		return nil, invalid(bad)
	}
	res, err := m.audit.Search(ctx, orgID, f, page)
	if err != nil {
		return nil, m.fail(err)
	}
	out := AuditList{Data: make([]AuditEvent, 0, len(res.Events))}
	for _, e := range res.Events {
		out.Data = append(out.Data, auditEventJSON(e))
	}
	if res.Older != nil && res.Older.Before != nil {
		c := m.cursor(auditCursorScope(orgID), res.Older.Before.At, res.Older.Before.ID)
		out.NextCursor = &c
	}
	return &auditListOutput{CacheControl: "no-store", Body: out}, nil
}

func auditEventJSON(e audit.Event) AuditEvent {
	return AuditEvent{
		ID: e.ID, At: e.CreatedAt.UTC(), Actor: audit.Actor{Email: e.ActorEmail}.Name(), Action: e.Action,
		Target: AuditTarget{Type: e.TargetType, ID: e.TargetID}, IP: e.IP, UserAgent: e.UserAgent,
	}
}

// invalid is a 422 naming fields, in name order.
func invalid(fields map[string]string) *Problem {
	p := NewProblem(CodeInvalid, "Please correct the highlighted fields.")
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p.Detail.Fields = append(p.Detail.Fields, FieldError{Name: name, Message: fields[name]})
	}
	return p
}

// ListAuditOp is GET /v1/audit.
func ListAuditOp() huma.Operation {
	next := "MTlkOHo1bDZxdzAuMDE5NjBiMWU.q1Yx8mXo2Nf0cT9bZrVb3g"
	op := documented(huma.Operation{
		OperationID: "list-audit-events", Method: http.MethodGet, Path: "/audit", Summary: "List audit events",
		Description: "The organization's audit log, newest first, filtered as in the dashboard and paged by cursor. Actions: " +
			strings.Join(audit.Actions, ", ") + ". An unknown action or a malformed date is 422 naming the parameter.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, nil, AuditList{Data: []AuditEvent{{
		ID: "01960b2a-1f00-7c4e-8a1b-3c5d7e9f1a2b", At: exampleRevoked, Actor: `kp_sk_live_…a9Qz "CI deployer"`,
		Action: audit.KeyRevoked, Target: AuditTarget{Type: "api_key", ID: exampleKey.ID}, IP: "203.0.113.7", UserAgent: "deploy-bot/1.0",
	}}, NextCursor: &next})
	op.Tags = []string{"Audit"}
	return op
}
