package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/leak"
)

// LeakReport is one token the platform's own scanner found in public, in
// the shape GitHub's secret scanning sends.
type LeakReport struct {
	Token  string `json:"token" minLength:"1" maxLength:"1000" doc:"The token as found."`
	Type   string `json:"type,omitempty" maxLength:"200" doc:"The scanner's name for the kind of secret; echoed back."`
	URL    string `json:"url,omitempty" maxLength:"2000" doc:"Where it was found; shown on the key's page, never fetched."`
	Source string `json:"source,omitempty" maxLength:"200" doc:"What kind of content it was found in."`
}

// LeakReportInput is a batch of reports.
type LeakReportInput struct {
	Body []LeakReport `minItems:"1" maxItems:"1000"`
}

// LeakLabels answers a batch of reports: a label for every token, in
// order, as GitHub's secret scanning gets them.
type LeakLabels struct {
	Data []leak.Label `json:"data"`
}

type leakLabelsOutput struct {
	Body LeakLabels
}

// ReportLeaksOp is POST /v1/admin/leaks.
func ReportLeaksOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-report-leaks", Method: http.MethodPost, Path: "/leaks", Summary: "Report keys found in public",
		Description: "For the platform's own scanners; the same body and answer as GitHub's secret scanning. " +
			"A key that is not revoked is `true_positive`: it is flagged (its page and row say where and when), " +
			"the organization's audit log records it and its leak policy applies (`disable` stops a private key on every server within a second). " +
			"Unknown and revoked tokens are `false_positive` and change nothing. `token_hash` is the hex SHA-256 of the token. " +
			"The labels come in `data`, in the order of the reports.",
	}, LeakReportInput{}, LeakLabels{Data: []leak.Label{{TokenHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", TokenType: "keyplane_live_key", Label: leak.TruePositive}}})
}

// ReportLeaks is POST /api/v1/admin/leaks: 200 with a label for every
// token, in order.
func (m *Management) ReportLeaks(ctx context.Context, in *LeakReportInput) (*leakLabelsOutput, error) {
	reports := make([]leak.Report, len(in.Body))
	for i, r := range in.Body {
		reports[i] = leak.Report{Token: r.Token, Type: r.Type, URL: r.URL, Source: r.Source}
	}
	actor := credentialOf(ctx).actor
	source := `operator token "` + actor.TokenName + `"`
	labels, flagged, err := leak.Process(ctx, m.keys, reports, source, actor)
	if err != nil {
		return nil, m.fail(err)
	}
	logFlagged(m.logger, source, flagged)
	return &leakLabelsOutput{Body: LeakLabels{Data: labels}}, nil
}
