// Package batch predicts many items ahead of time and stores the
// predictions, so that they can be looked up later without running the
// model: the CSV reader for batch inputs, the prediction of a chunk, and the
// Queue that works batch jobs on River, shared by every replica.
package batch

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// RowError is a CSV row that could not be read; the rows after it still are.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// MaxTextLen bounds one item's text, as for POST /predict.
const MaxTextLen = 10000

// MaxItems bounds the items of one batch job, whatever the format it came
// in.
const MaxItems = 100_000

// TooManyItemsError is returned by ReadItems for input with more than its
// limit of items; it stops reading at the first row past the limit.
type TooManyItemsError struct {
	Max  int
	Line int // the first line past the limit
}

func (e *TooManyItemsError) Error() string {
	return fmt.Sprintf("more than %d items (line %d is item %d); split the input into several jobs", e.Max, e.Line, e.Max+1)
}

// ControlChar returns the first control character of s other than tab,
// line feed and carriage return, and its byte offset; ok is false when
// there is none. It is the rule for every text the API takes.
func ControlChar(s string) (r rune, at int, ok bool) {
	for i, c := range s {
		if unicode.IsControl(c) && c != '\t' && c != '\n' && c != '\r' {
			return c, i, true
		}
	}
	return 0, 0, false
}

// ReadItems reads batch items from CSV with a header row: either `id,text`
// or the Made With ML columns `id,created_on,title,description,tag`, whose
// title and description are joined by a space. A malformed row becomes a
// RowError in bad and does not stop the rest; err is for a file that cannot
// be read at all, or a *TooManyItemsError when it has more than maxItems
// rows (good or bad), found at the first row past them. An id is taken as
// it is, white space included; a row whose id an earlier good row has is a
// RowError.
func ReadItems(r io.Reader, maxItems int) (items []registry.Item, bad []*RowError, err error) {
	cr := csv.NewReader(&lineLimiter{r: r, max: MaxLineBytes})
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("batch: read header: %w", err)
	}
	if len(header) > MaxColumns {
		return nil, nil, fmt.Errorf("batch: the header has %d columns; at most %d are read", len(header), MaxColumns)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	idCol, hasID := col["id"]
	textCol, hasText := col["text"]
	titleCol, hasTitle := col["title"]
	descCol, hasDesc := col["description"]
	if !hasID || !(hasText || hasTitle && hasDesc) {
		return nil, nil, fmt.Errorf("batch: header %q needs the columns id,text or id,title,description", strings.Join(header, ","))
	}
	// The line of each id taken: an id given again is a bad row, since a
	// job stores one prediction per id and the second item would never be
	// predicted. Its keys share the items' strings, so it costs little
	// beyond the items themselves (bounded by maxItems).
	seen := map[string]int{}
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return items, bad, nil
		}
		if rows == maxItems {
			line, _ := cr.FieldPos(0)
			return nil, nil, &TooManyItemsError{Max: maxItems, Line: line}
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, &RowError{Line: pe.StartLine, Err: pe.Err})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("batch: read: %w", err)
		}
		line, _ := cr.FieldPos(0)
		get := func(i int) (string, bool) {
			if i >= len(rec) {
				return "", false
			}
			return rec[i], true
		}
		// The id is the cell as it is, as in JSON: trimming white space
		// would change an id (U+0085 and U+2028 are white space too)
		// after it has passed the rule for ids.
		id, ok := get(idCol)
		if !ok || id == "" {
			bad = append(bad, &RowError{Line: line, Err: errors.New("no id")})
			continue
		}
		var text string
		if hasText {
			text, ok = get(textCol)
		} else {
			var title, desc string
			title, ok = get(titleCol)
			if d, dok := get(descCol); ok && dok {
				desc = d
			} else {
				ok = false
			}
			text = strings.TrimSpace(title + " " + desc)
		}
		switch {
		case !ok:
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: too few columns", id)})
		case strings.TrimSpace(text) == "":
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: empty text", id)})
		case !utf8.ValidString(text) || !utf8.ValidString(id):
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: not valid UTF-8", id)})
		case hasControl(text):
			c, at, _ := ControlChar(text)
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: text must not contain control character %U (at byte %d)", id, c, at)})
		case hasControl(id):
			c, at, _ := ControlChar(id)
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("id must not contain control character %U (at byte %d)", c, at)})
		case utf8.RuneCountInString(text) > MaxTextLen:
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: text longer than %d characters", id, MaxTextLen)})
		case utf8.RuneCountInString(id) > 128:
			bad = append(bad, &RowError{Line: line, Err: errors.New("id longer than 128 characters")})
		case seen[id] > 0:
			bad = append(bad, &RowError{Line: line, Err: fmt.Errorf("item %q: id repeats line %d; ids must be unique within a job", id, seen[id])})
		default:
			seen[id] = line
			items = append(items, registry.Item{ID: id, Text: text})
		}
	}
}

// Bounds of a CSV file's shape, whatever its size: encoding/csv reads a
// line, and a field, whole before the rules on items see it.
const (
	// MaxLineBytes is the longest line read: far above any valid row (a
	// text of 10,000 characters is at most 40 KB, 80 KB with its quotes
	// doubled).
	MaxLineBytes = 1 << 20
	// MaxColumns is the most columns a header may have.
	MaxColumns = 64
)

// ErrLineTooLong is returned by ReadItems for a line over MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("a line is longer than %d bytes", MaxLineBytes)

// lineLimiter reads r, failing with ErrLineTooLong once a line (bytes
// between line feeds) exceeds max bytes.
type lineLimiter struct {
	r    io.Reader
	max  int
	line int // bytes of the current line so far
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for b := p[:n]; ; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.line += len(b)
			break
		}
		if l.line+i > l.max {
			return 0, ErrLineTooLong
		}
		l.line, b = 0, b[i+1:]
	}
	if l.line > l.max {
		return 0, ErrLineTooLong
	}
	return n, err
}

func hasControl(s string) bool {
	_, _, ok := ControlChar(s)
	return ok
}

// Predict predicts items with c, as version of model name, stamped at.
func Predict(c Classifier, name string, version int, items []registry.Item, at time.Time) []registry.StoredPrediction {
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	preds := c.PredictBatch(texts)
	classes := c.Classes()
	out := make([]registry.StoredPrediction, len(items))
	for i, p := range preds {
		probs := make(map[string]float64, len(classes))
		for j, cl := range classes {
			probs[cl] = p.Probabilities[j]
		}
		out[i] = registry.StoredPrediction{
			Model: name, Version: version, ItemID: items[i].ID, TextSHA256: registry.TextSHA256(items[i].Text),
			Tag: p.Tag, Probabilities: probs, CreatedAt: at,
		}
	}
	return out
}

// Classifier predicts; *model.Classifier is one.
type Classifier interface {
	Classes() []string
	PredictBatch(texts []string) []model.Prediction
}

// Loader returns the classifier of version of model name.
type Loader func(ctx context.Context, name string, version int) (Classifier, error)
