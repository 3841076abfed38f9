package httpapi

import (
	"net/http"
	"strconv"

	"github.com/hashicorp/go-bexpr"
)

// listing is the paging and filtering of a list endpoint (Nomad's
// per_page, next_token and filter parameters). A list handler walks its
// items in token order and offers each to add until add says stop; the
// reply's X-Nomad-NextToken is the token of the first item left out.
type listing struct {
	perPage   int
	nextToken string
	filter    *bexpr.Evaluator
	next      string
	n         int
}

func parseListing(r *http.Request) (*listing, error) {
	q := r.URL.Query()
	l := &listing{nextToken: q.Get("next_token")}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, codedErr(http.StatusBadRequest, "Invalid per_page %q", v)
		}
		l.perPage = n
	}
	if f := q.Get("filter"); f != "" {
		ev, err := bexpr.CreateEvaluator(f)
		if err != nil {
			return nil, codedErr(http.StatusBadRequest, "failed to read filter expression: %v", err)
		}
		l.filter = ev
	}
	return l, nil
}

// add offers item (whose token is tok) to the page: it reports whether
// the item belongs on the page and whether the walk should go on.
func (l *listing) add(item any, tok string) (keep, more bool, err error) {
	if l.filter != nil {
		ok, err := l.filter.Evaluate(item)
		if err != nil {
			return false, false, codedErr(http.StatusBadRequest, "failed to apply filter: %v", err)
		}
		if !ok {
			return false, true, nil
		}
	}
	if l.perPage > 0 && l.n == l.perPage {
		l.next = tok
		return false, false, nil
	}
	l.n++
	return true, true, nil
}

// reply wraps a page of items for the read wrapper, which sets the paging
// header and answers with the items.
func (l *listing) reply(items any) pagedReply { return pagedReply{items: items, next: l.next} }

// pagedReply is a list handler's result with its next-page token.
type pagedReply struct {
	items any
	next  string
}
