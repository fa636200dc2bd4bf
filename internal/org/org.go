// Package org holds organizations and their memberships: who belongs to which
// organization, and with which role.
package org

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/quota"
	"keyplane/internal/store"
)

// Role is a member's role in an organization.
type Role string

// The roles.
const (
	Admin  Role = "admin"
	Member Role = "member"
)

// ParseRole returns the role named s, or false.
func ParseRole(s string) (Role, bool) {
	switch Role(s) {
	case Admin, Member:
		return Role(s), true
	}
	return "", false
}

// Organization is a customer of the platform; its keys and members belong to it.
type Organization struct {
	ID        string
	Name      string
	Slug      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// DisabledAt is set while an operator has disabled the organization:
	// its keys are refused (see apikey.Service.SetOrgDisabled).
	DisabledAt *time.Time
	// RequireTwoFactor is set when the organization's admins require
	// two-factor sign-in of every member (see SetRequireTwoFactor).
	RequireTwoFactor bool
	// LeakPolicy is what happens to a key found in public: "notify" (the
	// default) or "disable" (see apikey.LeakPolicy and SetLeakPolicy).
	LeakPolicy string `gorm:"default:notify"`
	// The organization's quota, shared by all its keys (none when
	// QuotaKind is nil); QuotaReportOnly lets over-quota requests through,
	// counted as would_quota_exceeded.
	quota.Columns
	QuotaReportOnly bool
}

// TableName maps Organization to its table.
func (Organization) TableName() string { return "organizations" }

// Membership ties a user to an organization with a role.
type Membership struct {
	ID        string
	OrgID     string
	UserID    string
	Role      Role
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Joined is an organization seen from one of its members.
type Joined struct {
	Organization
	Role Role
}

// MemberRow is a member as listed on an organization's pages.
type MemberRow struct {
	UserID      string
	Email       string
	Name        string
	Role        Role
	JoinedAt    time.Time
	LastLoginAt *time.Time
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)

var reservedSlugs = map[string]bool{
	"admin": true, "api": true, "v1": true, "static": true, "setup": true, "login": true,
	"logout": true, "invites": true, "account": true, "orgs": true,
}

// ValidateSlug returns a field message for a bad slug, or "". Slugs are 2–40
// characters of a-z, 0-9 and -, not starting or ending with -, and not one of
// the reserved words.
func ValidateSlug(slug string) string {
	switch {
	case len(slug) < 2 || len(slug) > 40:
		return "Use 2 to 40 characters."
	case !slugRE.MatchString(slug):
		return "Use lowercase letters, digits and dashes; no dash at the start or end."
	case reservedSlugs[slug]:
		return fmt.Sprintf("%q is reserved; choose another.", slug)
	}
	return ""
}

// ValidateOrgName returns a field message for a bad organization name, or "".
func ValidateOrgName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "Enter a name."
	case n > 100:
		return "Use at most 100 characters."
	}
	return ""
}

// Service manages organizations, memberships and invitations. Its methods
// join the transaction their ctx carries (store.DB.WithTx).
type Service struct {
	db       *store.DB
	now      func() time.Time
	accounts Accounts
	// events queues webhook events; nil queues none.
	events Events
}

// Option changes a Service made by NewService.
type Option func(*Service)

// WithAccounts gives the Service the accounts it creates for invited people
// who have none yet (AcceptInviteAsNewUser).
func WithAccounts(a Accounts) Option { return func(s *Service) { s.accounts = a } }

// NewService returns a Service; now is the clock (time.Now when nil).
func NewService(db *store.DB, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{db: db, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Create makes an organization with adminUserID as its first admin and
// records both in the audit log. Returns Invalid for a bad name or slug and
// Conflict when the slug is taken.
func (s *Service) Create(ctx context.Context, name, slug, adminUserID string, actor audit.Actor) (Organization, error) {
	return s.create(ctx, name, slug, &adminUserID, actor)
}

// CreateWithoutMembers makes an organization with no member yet (the
// operator API adds them later) and records it. Returns Invalid for a bad
// name or slug and Conflict when the slug is taken.
func (s *Service) CreateWithoutMembers(ctx context.Context, name, slug string, actor audit.Actor) (Organization, error) {
	return s.create(ctx, name, slug, nil, actor)
}

func (s *Service) create(ctx context.Context, name, slug string, adminUserID *string, actor audit.Actor) (Organization, error) {
	name = strings.TrimSpace(name)
	slug = strings.TrimSpace(slug)
	fields := map[string]string{}
	if msg := ValidateOrgName(name); msg != "" {
		fields["name"] = msg
	}
	if msg := ValidateSlug(slug); msg != "" {
		fields["slug"] = msg
	}
	if len(fields) > 0 {
		return Organization{}, apperr.InvalidFields(fields)
	}
	now := s.now().UTC()
	o := Organization{ID: store.NewID(), Name: name, Slug: slug, CreatedAt: now, UpdatedAt: now}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := tx.Create(&o).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return &apperr.Error{Code: apperr.Conflict, Message: "This slug is taken.",
					Fields: map[string]string{"slug": "This slug is taken; choose another."}}
			}
			return fmt.Errorf("org: create: %w", err)
		}
		if err := audit.Record(ctx, tx, now, o.ID, actor, audit.OrgCreated, "org", o.ID,
			fmt.Sprintf("%s created the organization %s (%s)", actor.Name(), o.Name, o.Slug)); err != nil {
			return err
		}
		if adminUserID == nil {
			return nil
		}
		return s.addMember(ctx, o, *adminUserID, Admin, actor)
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// AddMember adds userID to the organization orgID with role. Returns NotFound
// for an unknown user or organization and Conflict when already a member.
func (s *Service) AddMember(ctx context.Context, orgID, userID string, role Role, actor audit.Actor) error {
	if _, ok := ParseRole(string(role)); !ok {
		return apperr.InvalidFields(map[string]string{"role": "Choose admin or member."})
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		var o Organization
		if !store.ValidID(orgID) {
			return fieldErr(apperr.NotFound, "org_id", "Organization not found.")
		}
		if err := s.db.Conn(ctx).Where("id = ?", orgID).Take(&o).Error; err != nil {
			if store.IsNotFound(err) {
				return fieldErr(apperr.NotFound, "org_id", "Organization not found.")
			}
			return fmt.Errorf("org: add member: %w", err)
		}
		return s.addMember(ctx, o, userID, role, actor)
	})
}

func (s *Service) addMember(ctx context.Context, o Organization, userID string, role Role, actor audit.Actor) error {
	var email string
	if !store.ValidID(userID) {
		return fieldErr(apperr.NotFound, "user_id", "User not found.")
	}
	tx := s.db.Conn(ctx)
	err := tx.Table("users").Select("email").Where("id = ?", userID).Take(&email).Error
	if store.IsNotFound(err) {
		return fieldErr(apperr.NotFound, "user_id", "User not found.")
	}
	if err != nil {
		return fmt.Errorf("org: add member: %w", err)
	}
	now := s.now().UTC()
	m := Membership{ID: store.NewID(), OrgID: o.ID, UserID: userID, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(&m).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return fieldErr(apperr.Conflict, "user_id", fmt.Sprintf("%s is already a member of %s.", email, o.Name))
		}
		return fmt.Errorf("org: add member: %w", err)
	}
	if err := s.memberEvent(ctx, audit.MemberAdded, o.ID, userID, role, now, actor); err != nil {
		return err
	}
	return audit.Record(ctx, tx, now, o.ID, actor, audit.MemberAdded, "user", userID,
		fmt.Sprintf("%s added %s to %s as %s", actor.Name(), email, o.Name, role))
}

func fieldErr(code apperr.Code, field, msg string) error {
	return &apperr.Error{Code: code, Message: msg, Fields: map[string]string{field: msg}}
}

// BySlug returns the organization with slug, or NotFound.
func (s *Service) BySlug(ctx context.Context, slug string) (Organization, error) {
	var o Organization
	err := s.db.Conn(ctx).Where("slug = ?", slug).Take(&o).Error
	if store.IsNotFound(err) {
		return Organization{}, apperr.New(apperr.NotFound, "Organization not found.")
	}
	if err != nil {
		return Organization{}, fmt.Errorf("org: by slug: %w", err)
	}
	return o, nil
}

// MembershipBySlug returns the organization with slug as seen by userID.
// Returns NotFound when the slug is unknown or the user is not a member, so
// outsiders cannot tell the two apart.
func (s *Service) MembershipBySlug(ctx context.Context, slug, userID string) (Joined, error) {
	var j Joined
	err := s.db.Conn(ctx).Table("organizations AS o").
		Select("o.id, o.name, o.slug, o.created_at, o.updated_at, o.disabled_at, o.require_two_factor, o.leak_policy, m.role").
		Joins("JOIN memberships AS m ON m.org_id = o.id").
		Where("o.slug = ? AND m.user_id = ?", slug, userID).
		Take(&j).Error
	if store.IsNotFound(err) {
		return Joined{}, apperr.New(apperr.NotFound, "Page not found.")
	}
	if err != nil {
		return Joined{}, fmt.Errorf("org: membership: %w", err)
	}
	return j, nil
}

// ForUser returns the organizations userID belongs to, by name.
func (s *Service) ForUser(ctx context.Context, userID string) ([]Joined, error) {
	var list []Joined
	err := s.db.Conn(ctx).Table("organizations AS o").
		Select("o.id, o.name, o.slug, o.created_at, o.updated_at, o.disabled_at, o.require_two_factor, o.leak_policy, m.role").
		Joins("JOIN memberships AS m ON m.org_id = o.id").
		Where("m.user_id = ?", userID).
		Order("o.name, o.slug").
		Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("org: for user: %w", err)
	}
	return list, nil
}

// OrgSummary is an organization with its member count, for operators.
type OrgSummary struct {
	Organization
	Members int
}

// List returns every organization with its member count. Operators only.
func (s *Service) List(ctx context.Context) ([]OrgSummary, error) {
	var list []OrgSummary
	err := s.db.Conn(ctx).Table("organizations AS o").
		Select("o.id, o.name, o.slug, o.created_at, o.updated_at, o.disabled_at, o.require_two_factor, o.leak_policy, (SELECT count(*) FROM memberships m WHERE m.org_id = o.id) AS members").
		Order("o.name, o.slug").
		Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("org: list: %w", err)
	}
	return list, nil
}

// Members returns the members of orgID, admins first, then by email.
func (s *Service) Members(ctx context.Context, orgID string) ([]MemberRow, error) {
	var list []MemberRow
	err := s.db.Conn(ctx).Table("memberships AS m").
		Select("u.id AS user_id, u.email, u.name, m.role, m.created_at AS joined_at, u.last_login_at").
		Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.org_id = ?", orgID).
		Order("m.role, u.email").
		Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("org: members: %w", err)
	}
	return list, nil
}
