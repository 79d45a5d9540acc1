package jtl

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Row is one row of a .jtl file, as JMeter's CSV reader sees it.
type Row struct {
	TimeStamp, Elapsed         int64
	Label                      string
	ResponseCode, Message      string
	ThreadName                 string
	Success                    bool
	FailureMessage             string
	Bytes, SentBytes           int64
	GrpThreads, AllThreads     int64
	URL                        string
	Latency, IdleTime, Connect int64
}

// Read reads a .jtl file in JMeter's default CSV columns (Header), with
// JMeter's CSV rules: a header line, fields quoted when they hold the
// delimiter, a quote or a line break, quotes doubled.
func Read(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(Header)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read jtl header: %w", err)
	}
	if !slices.Equal(head, Header) {
		return nil, fmt.Errorf("jtl header %q: want JMeter's default columns %q", head, Header)
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read jtl: %w", err)
		}
		line, _ := cr.FieldPos(0)
		var row Row
		ints := []*int64{&row.TimeStamp, &row.Elapsed, nil, nil, nil, nil, nil, nil, &row.Bytes, &row.SentBytes, &row.GrpThreads, &row.AllThreads, nil, &row.Latency, &row.IdleTime, &row.Connect}
		for i, p := range ints {
			if p == nil {
				continue
			}
			if *p, err = strconv.ParseInt(rec[i], 10, 64); err != nil {
				return nil, fmt.Errorf("jtl line %d: %s %q is not a whole number", line, Header[i], rec[i])
			}
		}
		if row.Success, err = strconv.ParseBool(rec[6]); err != nil {
			return nil, fmt.Errorf("jtl line %d: success %q is not true or false", line, rec[6])
		}
		row.Label, row.ResponseCode, row.Message, row.ThreadName = rec[2], rec[3], rec[4], rec[5]
		row.FailureMessage, row.URL = rec[7], rec[12]
		rows = append(rows, row)
	}
}
