package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/webhook"
	views "keyplane/views/webhooks"
)

// The organization's webhook pages, for its admins (routes.go puts every
// one of them behind requireRole(org.Admin)).

// webhooksList lists the organization's endpoints with their last
// delivery.
func (s *Server) webhooksList(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	list, err := s.webhooks.List(ctx, m.ID)
	if err != nil {
		return err
	}
	last, err := s.webhooks.LastDeliveries(ctx, m.ID)
	if err != nil {
		return err
	}
	vm := views.ListPage{Slug: m.Slug, OrgName: m.Name, CSRFToken: csrfToken(c), Limit: s.webhooks.MaxEndpoints()}
	now := s.now()
	for _, e := range list {
		r := webhookRow(m.Slug, e)
		if d, ok := last[e.ID]; ok {
			withLast(&r, d, now)
		}
		vm.Rows = append(vm.Rows, r)
	}
	return render(c, http.StatusOK, views.ListScreen(s.page(c, "Webhooks · "+m.Name), vm))
}

func webhookRow(slug string, e webhook.Endpoint) views.Row {
	return views.Row{
		ID: e.ID, URL: e.URL, Link: views.EndpointURL(slug, e.ID), Description: e.Description,
		Events: eventsWords(e), Paused: e.Paused(),
	}
}

func withLast(r *views.Row, d webhook.Delivery, now time.Time) {
	at := d.CreatedAt
	if d.LastAttemptAt != nil {
		at = *d.LastAttemptAt
	}
	r.LastStatus, r.LastDelivery = string(d.Status), relative(at, now)
	r.LastExact, r.LastISO = at.UTC().Format(exactLayout), at.UTC().Format(time.RFC3339)
}

func eventsWords(e webhook.Endpoint) string {
	if e.AllEvents() {
		return "All events"
	}
	return strings.Join(e.Events, ", ")
}

// webhookForm is the endpoint form holding in.
func (s *Server) webhookForm(c echo.Context, action, cancel string, in webhook.Input) views.Form {
	f := views.Form{
		Slug: currentMembership(c).Slug, CSRFToken: csrfToken(c), Action: action, Cancel: cancel,
		URL: in.URL, Description: in.Description,
	}
	checked := map[string]bool{}
	for _, e := range in.Events {
		checked[e] = true
	}
	f.All = checked[webhook.AllEvents]
	for _, t := range webhook.EventTypes {
		f.Events = append(f.Events, views.EventOption{Name: t.Name, Description: t.Description, Checked: checked[t.Name]})
	}
	return f
}

func webhookInput(c echo.Context) webhook.Input {
	return webhook.Input{URL: c.FormValue("url"), Description: c.FormValue("description"), Events: c.Request().PostForm["events"]}
}

// webhookNew shows the form that registers an endpoint.
func (s *Server) webhookNew(c echo.Context) error {
	m := currentMembership(c)
	f := s.webhookForm(c, views.ListURL(m.Slug), views.ListURL(m.Slug), webhook.Input{Events: []string{webhook.AllEvents}})
	return render(c, http.StatusOK, views.NewScreen(s.page(c, "Add a webhook endpoint"), f))
}

// webhookCreate registers an endpoint and reveals its secret once. Bad
// input and the limit answer with the form and a message.
func (s *Server) webhookCreate(c echo.Context) error {
	m := currentMembership(c)
	in := webhookInput(c)
	created, err := s.webhooks.Create(c.Request().Context(), m.ID, in, actor(c))
	if apperr.Is(err, apperr.Invalid) || apperr.Is(err, apperr.Limit) {
		f := s.webhookForm(c, views.ListURL(m.Slug), views.ListURL(m.Slug), in)
		f.Errors, f.Error = apperr.FieldsOf(err), apperr.MessageOf(err)
		return render(c, statusOf(apperr.CodeOf(err)), views.NewScreen(s.page(c, "Add a webhook endpoint"), f))
	}
	if err != nil {
		return err
	}
	return s.revealSecret(c, created, false)
}

// revealSecret answers with the one response that holds a signing secret:
// never cached, kept out of htmx's history.
func (s *Server) revealSecret(c echo.Context, created webhook.Created, rotated bool) error {
	m := currentMembership(c)
	noStore(c)
	title := "Endpoint added"
	if rotated {
		title = "Signing secret rotated"
	}
	return render(c, http.StatusOK, views.RevealScreen(s.page(c, title), views.Reveal{
		Slug: m.Slug, Secret: created.Secret, Endpoint: webhookRow(m.Slug, created.Endpoint), Rotated: rotated,
	}))
}

// webhookShow is an endpoint's page: its delivery log (?before= pages
// back) and its edit form. htmx's poll of the log gets the log alone.
func (s *Server) webhookShow(c echo.Context) error {
	e, err := s.webhooks.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	form := s.webhookForm(c, views.EndpointURL(currentMembership(c).Slug, e.ID), views.EndpointURL(currentMembership(c).Slug, e.ID),
		webhook.Input{URL: e.URL, Description: e.Description, Events: e.Events})
	form.Edit = true
	return s.renderWebhook(c, http.StatusOK, e, form, false)
}

func (s *Server) renderWebhook(c echo.Context, status int, e webhook.Endpoint, form views.Form, logOnly bool) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	before := c.QueryParam("before")
	if before != "" && !webhook.ValidDeliveryID(before) {
		before = ""
	}
	list, more, err := s.webhooks.Deliveries(ctx, m.ID, e.ID, webhook.DeliveryPage{Size: deliveriesPerPage, Before: before})
	if err != nil {
		return err
	}
	link := views.EndpointURL(m.Slug, e.ID)
	d := views.Detail{Slug: m.Slug, CSRFToken: csrfToken(c), Endpoint: webhookRow(m.Slug, e), Form: form}
	now := s.now()
	pending := false
	for _, dl := range list {
		d.Deliveries = append(d.Deliveries, deliveryRow(link, dl, now))
		pending = pending || dl.Status == webhook.Pending
	}
	if more {
		d.OlderURL = link + "?before=" + url.QueryEscape(list[len(list)-1].ID)
	}
	if before != "" {
		d.NewestURL = link
	}
	if pending && !e.Paused() {
		d.PollURL = link + "/deliveries"
		if before != "" {
			d.PollURL += "?before=" + url.QueryEscape(before)
		}
	}
	if logOnly {
		return render(c, status, views.Deliveries(d))
	}
	return render(c, status, views.DetailScreen(s.page(c, e.URL+" · Webhooks"), d))
}

// deliveriesPerPage is how many deliveries an endpoint's page lists.
const deliveriesPerPage = 25

func deliveryRow(link string, d webhook.Delivery, now time.Time) views.Delivery {
	at := d.CreatedAt
	if d.LastAttemptAt != nil {
		at = *d.LastAttemptAt
	}
	r := views.Delivery{
		ID: d.ID, Type: d.EventType, Status: string(d.Status), Label: views.StatusLabel(string(d.Status)), Code: "–",
		When: relative(at, now), WhenExact: at.UTC().Format(exactLayout), WhenISO: at.UTC().Format(time.RFC3339),
		Attempts: strconv.Itoa(d.Attempts), Note: d.LastError,
		ResendURL: link + "/deliveries/" + d.ID + "/resend",
	}
	if d.LastStatusCode != nil {
		r.Code = strconv.Itoa(*d.LastStatusCode)
	}
	if d.Status == webhook.Pending && d.NextAttemptAt != nil && d.Attempts > 0 {
		retry := "retry " + relative(*d.NextAttemptAt, now)
		if r.Note != "" {
			retry = r.Note + "; " + retry
		}
		r.Note = retry
	}
	return r
}

// webhookDeliveries is the delivery log alone, which the page polls while
// a delivery is pending; a plain request gets the whole page.
func (s *Server) webhookDeliveries(c echo.Context) error {
	e, err := s.webhooks.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return redirect(c, views.EndpointURL(currentMembership(c).Slug, e.ID))
	}
	return s.renderWebhook(c, http.StatusOK, e, views.Form{}, true)
}

// webhookUpdate saves an endpoint's URL, description and events.
func (s *Server) webhookUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	in := webhookInput(c)
	e, err := s.webhooks.Update(ctx, m.ID, c.Param("id"), in, actor(c))
	if apperr.Is(err, apperr.Invalid) {
		old, gerr := s.webhooks.Get(ctx, m.ID, c.Param("id"))
		if gerr != nil {
			return gerr
		}
		link := views.EndpointURL(m.Slug, old.ID)
		f := s.webhookForm(c, link, link, in)
		f.Edit, f.Errors, f.Error = true, apperr.FieldsOf(err), apperr.MessageOf(err)
		return s.renderWebhook(c, statusOf(apperr.CodeOf(err)), old, f, false)
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Saved the changes to "+e.URL+".")
	return redirect(c, views.EndpointURL(m.Slug, e.ID))
}

// webhookTest queues a webhook.test event for the endpoint alone.
func (s *Server) webhookTest(c echo.Context) error {
	m := currentMembership(c)
	if _, err := s.webhooks.SendTest(c.Request().Context(), m.ID, c.Param("id"), actor(c)); err != nil {
		return err
	}
	s.sessions.addFlash(c, "A test event is on its way; its delivery shows below.")
	return redirect(c, views.EndpointURL(m.Slug, c.Param("id")))
}

func (s *Server) webhookPause(c echo.Context) error  { return s.webhookSetPaused(c, true) }
func (s *Server) webhookResume(c echo.Context) error { return s.webhookSetPaused(c, false) }

func (s *Server) webhookSetPaused(c echo.Context, paused bool) error {
	m := currentMembership(c)
	e, err := s.webhooks.SetPaused(c.Request().Context(), m.ID, c.Param("id"), paused, actor(c))
	if err != nil && !apperr.Is(err, apperr.Conflict) {
		return err
	}
	switch {
	case err != nil:
		s.sessions.addFlash(c, apperr.MessageOf(err))
	case paused:
		s.sessions.addFlash(c, "Paused "+e.URL+": it gets no new events until you resume it.")
	default:
		s.sessions.addFlash(c, "Resumed "+e.URL+".")
	}
	return redirect(c, views.EndpointURL(m.Slug, c.Param("id")))
}

// webhookConfirm is what the delete and rotate dialogs show.
func (s *Server) webhookConfirm(c echo.Context) (views.Confirm, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	e, err := s.webhooks.Get(ctx, m.ID, c.Param("id"))
	if err != nil {
		return views.Confirm{}, err
	}
	n, err := s.webhooks.PendingCount(ctx, m.ID, e.ID)
	if err != nil {
		return views.Confirm{}, err
	}
	return views.Confirm{Slug: m.Slug, CSRFToken: csrfToken(c), Endpoint: webhookRow(m.Slug, e), Pending: n}, nil
}

// webhookDeleteConfirm asks before deleting an endpoint: a dialog for
// htmx, a page otherwise.
func (s *Server) webhookDeleteConfirm(c echo.Context) error {
	cf, err := s.webhookConfirm(c)
	if err != nil {
		return err
	}
	return dialog(s, c, http.StatusOK, "Delete this endpoint?", views.DeleteModal, views.DeleteScreen, cf)
}

// webhookDelete deletes an endpoint and its deliveries.
func (s *Server) webhookDelete(c echo.Context) error {
	m := currentMembership(c)
	e, err := s.webhooks.Delete(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Deleted the endpoint "+e.URL+".")
	return redirect(c, views.ListURL(m.Slug))
}

// webhookRotateConfirm asks before rotating an endpoint's secret.
func (s *Server) webhookRotateConfirm(c echo.Context) error {
	cf, err := s.webhookConfirm(c)
	if err != nil {
		return err
	}
	return dialog(s, c, http.StatusOK, "Rotate the signing secret?", views.RotateModal, views.RotateScreen, cf)
}

// webhookRotate gives an endpoint a new secret and reveals it once.
func (s *Server) webhookRotate(c echo.Context) error {
	created, err := s.webhooks.RotateSecret(c.Request().Context(), currentMembership(c).ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	return s.revealSecret(c, created, true)
}

// webhookResend makes a new attempt at a delivery now.
func (s *Server) webhookResend(c echo.Context) error {
	m := currentMembership(c)
	_, err := s.webhooks.Resend(c.Request().Context(), m.ID, c.Param("id"), c.Param("did"))
	if err != nil && !apperr.Is(err, apperr.Conflict) {
		return err
	}
	if err != nil {
		s.sessions.addFlash(c, apperr.MessageOf(err))
	} else {
		s.sessions.addFlash(c, "Resending "+c.Param("did")+" now.")
	}
	return redirect(c, views.EndpointURL(m.Slug, c.Param("id")))
}
