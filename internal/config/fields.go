package config

import (
	"reflect"
	"strings"
	"sync"
)

// jsonField is one struct field as encoding/json sees it.
type jsonField struct {
	Key   string
	Name  string // Go name, for the docs table ("Type.Field")
	Index []int
	Type  reflect.Type
}

var fieldCache sync.Map // reflect.Type -> []jsonField

// jsonFields lists the fields of struct type t by json key, in declaration
// order, flattening embedded structs the way encoding/json does (untagged
// embedded structs only; sluice's types have none, plugin configs may).
func jsonFields(t reflect.Type) []jsonField {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]jsonField)
	}
	var fs []jsonField
	seen := map[string]bool{}
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && depth < 8 {
					walk(ft, idx, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			fs = append(fs, jsonField{Key: name, Name: f.Name, Index: idx, Type: f.Type})
		}
	}
	walk(t, nil, 0)
	fieldCache.Store(t, fs)
	return fs
}

// fieldByTag finds the field of struct type t with json key k. Unlike
// encoding/json, matching is exact: config keys are case-sensitive.
func fieldByTag(t reflect.Type, k string) (jsonField, bool) {
	for _, f := range jsonFields(t) {
		if f.Key == k {
			return f, true
		}
	}
	return jsonField{}, false
}
