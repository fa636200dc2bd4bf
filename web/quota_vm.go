package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
	"keyplane/views/components"
)

// quotaMeter is a quota's standing at now as the pages show it; id names
// its text, which labels its bar.
func quotaMeter(id string, st apikey.QuotaState, reportOnly bool, now time.Time) *components.QuotaMeter {
	spec := st.Spec
	m := &components.QuotaMeter{
		ID: id, Max: st.Limit, Describe: apikey.DescribeQuota(&spec, false), ReportOnly: reportOnly,
		Exhausted: st.Remaining <= 0,
	}
	limit := apikey.Thousands(st.Limit)
	switch spec.Kind {
	case quota.Day:
		m.Value = st.Spent
		m.Text = apikey.Thousands(st.Spent) + " of " + apikey.Count(st.Limit, "request", "requests") + " today"
		m.Short = apikey.Thousands(st.Spent) + " of " + limit + " today"
		m.Reset = "resets at midnight UTC, " + relative(st.Reset, now)
	case quota.Month:
		m.Value = st.Spent
		m.Text = apikey.Thousands(st.Spent) + " of " + apikey.Count(st.Limit, "request", "requests") + " this month"
		m.Short = apikey.Thousands(st.Spent) + " of " + limit + " this month"
		m.Reset = "resets on " + st.Reset.UTC().Format("2 Jan at 15:04 UTC") + ", " + relative(st.Reset, now)
	default:
		m.Value = st.Remaining
		m.Text = apikey.Count(st.Remaining, "credit", "credits") + " left of " + limit
		m.Short = apikey.Thousands(st.Remaining) + " of " + apikey.Count(st.Limit, "credit", "credits") + " left"
		if st.Reset.IsZero() {
			m.Reset = "never refills"
		} else {
			m.Reset = "refills to " + apikey.Thousands(refillAmount(spec)) + " on " + st.Reset.UTC().Format("2 Jan at 15:04 UTC") + ", " + relative(st.Reset, now)
		}
	}
	if !st.Reset.IsZero() {
		m.ResetExact = st.Reset.UTC().Format(exactLayout)
	}
	if spec.TopUp > 0 && spec.TopUpPeriod.Equal(st.PeriodStart) {
		m.Added = "includes " + apikey.Count(spec.TopUp, "credit", "credits") + " added"
	}
	return m
}

// refillAmount is the balance each refill of spec sets.
func refillAmount(spec quota.Spec) int64 {
	if spec.RefillAmount > 0 {
		return spec.RefillAmount
	}
	return spec.Limit
}

// creditsLast says how long credits added to a balance in st count.
func creditsLast(st apikey.QuotaState) string {
	if st.Reset.IsZero() {
		return "This balance is never refilled: added credits stay until they are spent."
	}
	return "Added credits count until the next refill, on " + st.Reset.UTC().Format("2 Jan at 15:04 UTC") +
		", which sets the balance to " + apikey.Thousands(refillAmount(st.Spec)) + ": leftovers do not carry over."
}

// quotaValues turns a stored quota back into the form's values.
func quotaValues(spec *quota.Spec) components.QuotaValues {
	if spec == nil {
		return components.QuotaValues{Kind: components.QuotaNone}
	}
	v := components.QuotaValues{Kind: string(spec.Kind), Limit: strconv.FormatInt(spec.Limit, 10)}
	if spec.Refill > 0 {
		v.Refill = apikey.FormatInterval(spec.Refill)
	}
	if spec.RefillAmount > 0 {
		v.RefillAmount = strconv.FormatInt(spec.RefillAmount, 10)
	}
	return v
}

// quotaInput reads a form's quota fields.
func quotaInput(c echo.Context) apikey.QuotaInput {
	return apikey.QuotaInput{
		Kind: c.FormValue("quota_kind"), Limit: c.FormValue("quota_limit"),
		Refill: c.FormValue("quota_refill"), RefillAmount: c.FormValue("quota_refill_amount"),
	}
}

// quotaFormValues are the quota fields as posted.
func quotaFormValues(in apikey.QuotaInput) components.QuotaValues {
	return components.QuotaValues{Kind: in.Kind, Limit: in.Limit, Refill: in.Refill, RefillAmount: in.RefillAmount}
}

// creditsAmount reads the add-credits form's amount; anything but a whole
// number is 0, which the service refuses with its message.
func creditsAmount(c echo.Context) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("amount")), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
