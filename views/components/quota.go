package components

import "strconv"

// QuotaValues are a quota form's fields as typed: Kind is QuotaNone,
// "day", "month" or "credits"; Refill an interval ("" for never).
type QuotaValues struct {
	Kind         string
	Limit        string
	Refill       string
	RefillAmount string
}

// QuotaNone is the kind of the "no quota" choice.
const QuotaNone = "none"

// QuotaKinds are the quota form's choices of what a quota counts.
var QuotaKinds = []Option{
	{Value: QuotaNone, Label: "None"},
	{Value: "day", Label: "Requests per day"},
	{Value: "month", Label: "Requests per month"},
	{Value: "credits", Label: "Credits"},
}

// RefillIntervals are the refills the quota form offers for credits.
var RefillIntervals = []Option{
	{Value: "", Label: "Never"},
	{Value: "1m", Label: "Every minute"},
	{Value: "1h", Label: "Every hour"},
	{Value: "1d", Label: "Every day"},
	{Value: "7d", Label: "Every 7 days"},
	{Value: "30d", Label: "Every 30 days"},
}

// Option is one choice of a select or a group of radio buttons.
type Option struct {
	Value string
	Label string
}

// KindChecked reports whether kind is the quota form's chosen kind (none
// when nothing is chosen).
func (v QuotaValues) KindChecked(kind string) bool {
	if v.Kind == "" {
		return kind == QuotaNone
	}
	return v.Kind == kind
}

// Refills are RefillIntervals, plus the current refill when it is none of
// them (one set through the API, such as "12h"), so an edit keeps it.
func (v QuotaValues) Refills() []Option {
	for _, o := range RefillIntervals {
		if o.Value == v.Refill {
			return RefillIntervals
		}
	}
	return append(append([]Option(nil), RefillIntervals...), Option{Value: v.Refill, Label: "Every " + v.Refill})
}

// QuotaFieldsVM is the quota fieldset of a form: its values, their
// errors by field name (quota_kind, quota_limit, quota_refill,
// quota_refill_amount), and the words that name what it limits ("this
// key", "the organization").
type QuotaFieldsVM struct {
	Values QuotaValues
	Errors map[string]string
	Whose  string
}

// QuotaMeter is a quota's standing as a page shows it.
type QuotaMeter struct {
	// ID names the meter's text, which labels its bar; unique on a page.
	ID string
	// Text is the standing: "1,234 of 10,000 requests today", "3,210
	// credits left of 5,000".
	Text string
	// Short is Text for a row of the keys list: "1,234 of 10,000 today".
	Short string
	// Value and Max are the bar's: requests spent, or credits left.
	Value, Max int64
	// Reset says when the period ends: "resets at midnight UTC, in 5
	// hours", "refills to 5,000 on 2 Dec at 14:00 UTC, in 3 hours",
	// "never refills"; ResetExact is that time, exactly ("" for never).
	Reset      string
	ResetExact string
	// Describe is the quota in words: "10,000 requests a day".
	Describe string
	// Added says what an admin added this period: "includes 1,000
	// credits added" ("" for none).
	Added      string
	Exhausted  bool
	ReportOnly bool
}

// BarValue is the bar's value attribute.
func (m QuotaMeter) BarValue() string { return strconv.FormatInt(min(m.Value, m.Max), 10) }

// BarMax is the bar's max attribute.
func (m QuotaMeter) BarMax() string { return strconv.FormatInt(max(m.Max, 1), 10) }

// Credits is the dialog that adds credits to a key's or an organization's
// balance.
type Credits struct {
	Title     string // "Add credits to Billing worker"
	Action    string // where the form posts
	Back      string // where Cancel leads without JavaScript
	CSRFToken string
	// Standing is the balance now ("3,210 credits left of 5,000") and
	// Lasts how long added credits count.
	Standing string
	Lasts    string
	Amount   string
	Error    string
}
