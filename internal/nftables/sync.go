package nftables

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	nft "github.com/google/nftables"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/prefix"
)

// Sync implements firewall.Backend. It reads the kernel first: a table
// that is gone or changed is made anew with desired's cover in one batch;
// otherwise the sets get exactly desired's cover. Everything in the sets is
// synguard's, so whatever is not in that cover goes.
func (b *Backend) Sync(ctx context.Context, desired []firewall.Entry, owned []netip.Prefix) (firewall.SyncResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sr firewall.SyncResult
	if err := b.begin("sync"); err != nil {
		return sr, err
	}
	want := map[netip.Prefix]time.Time{}
	for _, e := range desired {
		p, err := firewall.Check(e.Prefix)
		if err != nil {
			sr.Results = append(sr.Results, firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: err})
			continue
		}
		want[p] = e.Expiry
		sr.Results = append(sr.Results, firewall.Result{Prefix: p, Outcome: firewall.Applied})
	}
	for _, p := range owned {
		cp, err := firewall.Check(p)
		if err != nil {
			sr.Results = append(sr.Results, firewall.Result{Prefix: cp, Outcome: firewall.Refused, Err: err})
		} else if _, ok := want[cp]; !ok {
			sr.Results = append(sr.Results, firewall.Result{Prefix: cp, Outcome: firewall.Removed})
		}
	}
	c, err := b.conn(ctx)
	if err != nil {
		return firewall.SyncResult{}, err
	}
	ok, why, err := intact(c, b.obj)
	if err != nil {
		return firewall.SyncResult{}, fmt.Errorf("nftables sync: check table inet %s: %w", b.cfg.Table, err)
	}
	cur := map[netip.Prefix]time.Time{}
	if ok {
		if cur, err = b.read(c); err != nil {
			return firewall.SyncResult{}, err
		}
	} else {
		b.log.Warn("nftables: restoring synguard's table", "table", "inet "+b.cfg.Table, "why", why)
	}
	pl := b.planFor(want, cur)
	if !ok {
		var elems [2][]nft.SetElement
		for q, dl := range pl.next {
			elems[famIndex(q)] = append(elems[famIndex(q)], toElements(q, timeout(dl))...)
		}
		err = queueBuild(c, b.obj, elems)
	} else if len(pl.add)+len(pl.del)+len(pl.renew) > 0 {
		err = b.queue(c, pl)
	}
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		return firewall.SyncResult{}, fmt.Errorf("nftables sync: batch on table inet %s: %w", b.cfg.Table, err)
	}
	b.inSet, b.owned = pl.next, want
	sr.Added, sr.Removed = pl.added, pl.removed
	return sr, nil
}

// List implements firewall.Backend: the sets' prefixes (the cover, so a
// block inside a wider one is not listed). No table is an empty list.
func (b *Backend) List(ctx context.Context) ([]netip.Prefix, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	if there, err := b.tableThere(c); err != nil || !there {
		return nil, err
	}
	held, err := b.read(c)
	if err != nil {
		return nil, err
	}
	out := slices.Collect(maps.Keys(held))
	slices.SortFunc(out, prefix.Compare)
	return out, nil
}

// tableThere reports whether synguard's table exists.
func (b *Backend) tableThere(c *nft.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("nftables: list tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nft.Table) bool { return t.Name == b.cfg.Table }), nil
}

// Purge implements firewall.Backend: it deletes synguard's table, and with
// it every set, element, chain and counter; nothing else is touched.
func (b *Backend) Purge(ctx context.Context, owned []netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	// Adding first makes the deletion valid when the table is gone already.
	c.AddTable(b.obj.table)
	c.DelTable(b.obj.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables purge: delete table inet %s: %w", b.cfg.Table, err)
	}
	b.owned, b.inSet, b.prepared = map[netip.Prefix]time.Time{}, map[netip.Prefix]time.Time{}, false
	return nil
}
