package model

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Example is one labelled project.
type Example struct {
	// ID is the id column, kept for error messages and reports.
	ID string
	// Text is the title and the description joined by one space, raw.
	Text string
	// Tag is the tag column as written in the file.
	Tag string
	// Line is the line of the file where the record starts (1-based).
	Line int
}

// ReadCSV reads examples from a Made With ML CSV file with the header
// id,created_on,title,description,tag (in any order; other columns are
// ignored). Fields may be quoted and hold newlines. The text of an example
// is title + " " + description.
//
// Errors name the file and the line: a missing file, a missing column, a
// record whose title and description are both empty, and an empty or
// malformed tag (a tag is lower-case letters and digits joined by dashes,
// like "natural-language-processing"). Well-formed tags outside the
// accepted ones are not an error: training maps them to "other" (see
// Args.AcceptedTags).
func ReadCSV(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	examples, err := readCSV(f)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return examples, nil
}

// ParseCSV reads examples in ReadCSV's format from r; name is used in
// errors.
func ParseCSV(r io.Reader, name string) ([]Example, error) {
	examples, err := readCSV(r)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	return examples, nil
}

func readCSV(r io.Reader) ([]Example, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("line 1: empty file, want a header id,created_on,title,description,tag")
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, name := range header {
		col[strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))] = i
	}
	for _, name := range []string{"id", "title", "description", "tag"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("line 1: missing column %q in header %q", name, strings.Join(header, ","))
		}
	}
	var examples []Example
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return examples, nil
		}
		if err != nil {
			return nil, err // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		id := record[col["id"]]
		title := strings.TrimSpace(record[col["title"]])
		description := strings.TrimSpace(record[col["description"]])
		if title == "" && description == "" {
			return nil, fmt.Errorf("line %d: id %q: empty text (title and description are both empty)", line, id)
		}
		tag := strings.TrimSpace(record[col["tag"]])
		if tag == "" {
			return nil, fmt.Errorf("line %d: id %q: empty tag", line, id)
		}
		if !validTag(tag) {
			return nil, fmt.Errorf("line %d: id %q: unknown tag %q: want lower-case letters and digits joined by dashes", line, id, tag)
		}
		examples = append(examples, Example{
			ID:   id,
			Text: record[col["title"]] + " " + record[col["description"]],
			Tag:  tag,
			Line: line,
		})
	}
}

func validTag(tag string) bool {
	if tag == "" || tag[0] == '-' || tag[len(tag)-1] == '-' || strings.Contains(tag, "--") {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
