package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
)

const addressUsage = "address new ADDR --user NAME [--comment C] | new --random --apex APEX --user NAME | list [--user NAME] [--json] | revoke ADDR | suspend ADDR | reinstate ADDR"

// stringList is a flag that may be repeated or given comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p == "" {
			return fmt.Errorf("empty name in %q", v)
		}
		*l = append(*l, p)
	}
	return nil
}

var _ flag.Value = (*stringList)(nil)

func runAddress(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: cabalmail %s", addressUsage)
	}
	sub, args := args[0], args[1:]
	fs, cfgFlag := newFlags(e, "address "+sub)
	var users stringList
	fs.Var(&users, "user", "holder of the address (repeat or comma-separate for a shared address); with list: only this user's")
	comment := fs.String("comment", "", "note shown beside the address (new)")
	random := fs.Bool("random", false, "generate the local part and subdomain (new)")
	apex := fs.String("apex", "", "apex for --random")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "new":
		if *random {
			if len(pos) != 0 {
				return usagef("address new --random takes no address (got %q)", strings.Join(pos, " "))
			}
			if *apex == "" {
				return usagef("address new --random needs --apex APEX")
			}
		} else {
			if err := wantArgs("address new", pos, 1, "ADDR --user NAME [--comment C]"); err != nil {
				return err
			}
			if *apex != "" {
				return usagef("--apex applies only with --random")
			}
		}
		if len(users) == 0 {
			return usagef("address new needs --user NAME")
		}
	case "list":
		if err := wantArgs("address list", pos, 0, ""); err != nil {
			return err
		}
		if len(users) > 1 {
			return usagef("address list takes at most one --user")
		}
	case "revoke", "suspend", "reinstate":
		if err := wantArgs("address "+sub, pos, 1, "ADDR"); err != nil {
			return err
		}
	default:
		return usagef("unknown address command %q; usage: cabalmail %s", sub, addressUsage)
	}
	if sub != "new" && (*random || *apex != "" || *comment != "") {
		return usagef("--random, --apex and --comment apply only to address new")
	}
	if sub != "new" && sub != "list" && len(users) > 0 {
		return usagef("--user does not apply to address %s", sub)
	}
	if *asJSON && sub != "list" {
		return usagef("--json applies only to address list")
	}
	for _, u := range users {
		if err := accounts.ValidateName(u); err != nil {
			return err
		}
	}

	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	op := addresses.Operator()

	switch sub {
	case "new":
		req := addresses.CreateRequest{Random: *random, Apex: *apex, Users: users, Comment: *comment}
		if !*random {
			req.Address = pos[0]
		}
		addr, err := a.addresses.Create(ctx, op, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, addr.Address)
		return nil
	case "list":
		f := store.AddressFilter{}
		if len(users) == 1 {
			u, err := a.st.UserByName(ctx, users[0])
			if err != nil {
				return fmt.Errorf("unknown user %q", users[0])
			}
			f.UserID = u.ID
		}
		list, err := a.addresses.List(ctx, op, f)
		if err != nil {
			return err
		}
		return printAddresses(e, list, *asJSON)
	case "revoke":
		if err := a.addresses.Revoke(ctx, op, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", strings.ToLower(pos[0]))
	case "suspend":
		if err := a.addresses.Suspend(ctx, op, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "suspended %s\n", strings.ToLower(pos[0]))
	case "reinstate":
		if err := a.addresses.Reinstate(ctx, op, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "reinstated %s\n", strings.ToLower(pos[0]))
	}
	return nil
}

type holderJSON struct {
	User         string     `json:"user"`
	Comment      string     `json:"comment"`
	Favorite     bool       `json:"favorite"`
	CreatedAt    time.Time  `json:"created_at"`
	Received     int64      `json:"received"`
	LastReceived *time.Time `json:"last_received"`
}

type addressJSON struct {
	Address   string       `json:"address"`
	Local     string       `json:"local"`
	Subdomain string       `json:"subdomain"`
	Apex      string       `json:"apex"`
	State     string       `json:"state"`
	CreatedAt time.Time    `json:"created_at"`
	Holders   []holderJSON `json:"holders"`
}

func printAddresses(e *env, list []store.Address, asJSON bool) error {
	if asJSON {
		out := make([]addressJSON, 0, len(list))
		for _, ad := range list {
			j := addressJSON{Address: ad.Address, Local: ad.Local, Subdomain: ad.Subdomain, Apex: ad.Apex,
				State: string(ad.State), CreatedAt: ad.CreatedAt.UTC(), Holders: []holderJSON{}}
			for _, h := range ad.Holders {
				hj := holderJSON{User: h.UserName, Comment: h.Comment, Favorite: h.Favorite, CreatedAt: h.CreatedAt.UTC(), Received: h.Received}
				if !h.LastReceived.IsZero() {
					t := h.LastReceived.UTC()
					hj.LastReceived = &t
				}
				j.Holders = append(j.Holders, hj)
			}
			out = append(out, j)
		}
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tSTATE\tUSERS\tRECEIVED\tCREATED\tCOMMENT")
	for _, ad := range list {
		var names, comments []string
		var received int64
		for _, h := range ad.Holders {
			n := h.UserName
			if h.Favorite {
				n += "*"
			}
			names = append(names, n)
			received += h.Received
			if h.Comment != "" {
				comments = append(comments, h.Comment)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", ad.Address, ad.State, strings.Join(names, ","), received,
			ad.CreatedAt.Format(time.DateTime), strings.Join(comments, "; "))
	}
	return tw.Flush()
}
