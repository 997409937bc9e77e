package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
)

const userUsage = "user add NAME [--admin] [--password-stdin] | list [--json] | approve NAME | disable NAME | enable NAME | delete NAME | passwd NAME [--password-stdin] | token NAME | grant NAME APEX | ungrant NAME APEX"

func runUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: cabalmail %s", userUsage)
	}
	sub, args := args[0], args[1:]
	fs, cfgFlag := newFlags(e, "user "+sub)
	admin := fs.Bool("admin", false, "make the user an administrator (add)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (add, passwd)")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	// Check the call before touching the store.
	switch sub {
	case "add", "approve", "disable", "enable", "delete", "passwd", "token":
		err = wantArgs("user "+sub, pos, 1, "NAME")
	case "list":
		err = wantArgs("user list", pos, 0, "")
	case "grant", "ungrant":
		err = wantArgs("user "+sub, pos, 2, "NAME APEX")
	default:
		return usagef("unknown user command %q; usage: cabalmail %s", sub, userUsage)
	}
	if err != nil {
		return err
	}
	if *admin && sub != "add" {
		return usagef("--admin applies only to user add")
	}
	if *pwStdin && sub != "add" && sub != "passwd" {
		return usagef("--password-stdin applies only to user add and user passwd")
	}
	if len(pos) > 0 {
		if err := accounts.ValidateName(pos[0]); err != nil {
			return err
		}
	}
	password := ""
	if *pwStdin {
		if password, err = readPassword(e.stdin); err != nil {
			return err
		}
	}

	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "add":
		generated := password == ""
		if generated {
			password = accounts.GeneratePassword()
		}
		u, err := a.accounts.Add(ctx, pos[0], password, *admin)
		if err != nil {
			return err
		}
		audit(ctx, e, a, "user.add", u.Name, fmt.Sprintf("admin=%v", u.Admin))
		role := "user"
		if u.Admin {
			role = "admin"
		}
		fmt.Fprintf(e.stdout, "added %s %s (active)\n", role, u.Name)
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", password)
		}
		return nil
	case "list":
		return listUsers(ctx, e, a, *asJSON)
	case "approve":
		return userAction(ctx, e, a, "user.approve", pos[0], "approved", a.accounts.Approve)
	case "disable":
		return userAction(ctx, e, a, "user.disable", pos[0], "disabled", a.accounts.Disable)
	case "enable":
		return userAction(ctx, e, a, "user.enable", pos[0], "enabled", a.accounts.Enable)
	case "delete":
		revoked, err := a.accounts.Delete(ctx, pos[0])
		if err != nil {
			return err
		}
		audit(ctx, e, a, "user.delete", pos[0], fmt.Sprintf("revoked %d addresses", len(revoked)))
		fmt.Fprintf(e.stdout, "deleted user %s\n", pos[0])
		for _, r := range revoked {
			fmt.Fprintf(e.stdout, "revoked %s (no holder left)\n", r)
		}
		return nil
	case "passwd":
		generated := password == ""
		if generated {
			password = accounts.GeneratePassword()
		}
		if err := a.accounts.SetPassword(ctx, pos[0], password); err != nil {
			return err
		}
		audit(ctx, e, a, "user.passwd", pos[0], "")
		fmt.Fprintf(e.stdout, "password of %s changed\n", pos[0])
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", password)
		}
		return nil
	case "token":
		secret, err := a.accounts.NewToken(ctx, pos[0])
		if err != nil {
			return err
		}
		audit(ctx, e, a, "user.token", pos[0], "")
		fmt.Fprintln(e.stdout, secret)
		return nil
	case "grant":
		if err := a.addresses.Grant(ctx, addresses.Operator(), pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "granted %s to %s\n", pos[1], pos[0])
		return nil
	case "ungrant":
		if err := a.addresses.Ungrant(ctx, addresses.Operator(), pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "ungranted %s from %s\n", pos[1], pos[0])
		return nil
	}
	return nil
}

func userAction(ctx context.Context, e *env, a *app, action, name, done string, f func(context.Context, string) error) error {
	if err := f(ctx, name); err != nil {
		return err
	}
	audit(ctx, e, a, action, name, "")
	fmt.Fprintf(e.stdout, "%s user %s\n", done, name)
	return nil
}

// audit records an operator action; a failure to record is reported but
// does not undo the action.
func audit(ctx context.Context, e *env, a *app, action, target, detail string) {
	if err := a.st.AddAudit(ctx, &store.AuditEntry{Actor: "operator", Action: action, Target: target, Detail: detail}); err != nil {
		fmt.Fprintf(e.stderr, "cabalmail: warning: audit log: %v\n", err)
	}
}

type userJSON struct {
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	Status    string    `json:"status"`
	Grants    []string  `json:"grants"`
	CreatedAt time.Time `json:"created_at"`
}

func listUsers(ctx context.Context, e *env, a *app, asJSON bool) error {
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		grants, err := a.st.Grants(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("list grants of %s: %w", u.Name, err)
		}
		if grants == nil {
			grants = []string{}
		}
		out = append(out, userJSON{Name: u.Name, Admin: u.Admin, Status: string(u.Status), Grants: grants, CreatedAt: u.CreatedAt.UTC()})
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tGRANTS\tCREATED")
	for _, u := range out {
		role := "user"
		if u.Admin {
			role = "admin"
		}
		grants := "-"
		if len(u.Grants) > 0 {
			grants = fmt.Sprint(u.Grants)
			grants = grants[1 : len(grants)-1]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, role, u.Status, grants, u.CreatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}
