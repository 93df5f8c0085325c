// Package main is the article's approach, reproduced for the benchmark suite: Go functions exported
// with cgo from a c-shared library and called from Python through ctypes
// (benchmarks/alternatives/go.py). It owns only these exports; the kernels mirror
// shmcall::kernels (same results, including sum's summation order), written in Go.
//
// Build: go build -buildmode=c-shared -o build/libshmcallbench.so .
//
// Every buffer handed to the caller is C.malloc'd (C.CString included), because cgo forbids C
// from keeping pointers to Go memory; the caller must give it back through FreeString / FreeF64.
package main

/*
#include <stdlib.h>

// The article's Person, passed and returned by value.
struct Person {
	char* name;
	long long age;
};
*/
import "C"

import (
	"crypto/sha256"
	"fmt"
	"math"
	"unsafe"
)

// sumChunk and sumLanes are shmcall's SUM_CHUNK and LANES (src/kernels/arrays.rs): each chunk is
// summed in 8 lanes, then the chunk sums in a balanced tree. Keeping the same order makes float
// sums bitwise equal to the Rust kernel's, and the lanes give Go the same pipelined adds.
const (
	sumChunk = 1 << 14
	sumLanes = 8
)

func main() {} // required by -buildmode=c-shared

// Add stores 1 in *overflow and returns 0 when a+b does not fit in int64; the article's add
// wrapped silently, which the Rust kernel refuses to do.
//
//export Add
func Add(a, b C.longlong, overflow *C.int) C.longlong {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		*overflow = 1
		return 0
	}
	*overflow = 0
	return a + b
}

// Hello returns "hello " + name as a C string the caller frees with FreeString.
//
//export Hello
func Hello(name *C.char) *C.char {
	return C.CString(fmt.Sprintf("hello %s", C.GoString(name)))
}

// HelloPerson returns the person "xiaohong" with p's age; the caller frees the name.
//
//export HelloPerson
func HelloPerson(p C.struct_Person) C.struct_Person {
	_ = C.GoString(p.name) // the article converts the name to a Go string; so does the Rust side
	return C.struct_Person{name: C.CString("xiaohong"), age: p.age}
}

// MultiReturn returns (1, 2); cgo turns the two results into struct MultiReturn_return {r0, r1}.
//
//export MultiReturn
func MultiReturn() (C.longlong, C.longlong) {
	return 1, 2
}

// FreeString frees a string returned by Hello or HelloPerson.
//
//export FreeString
func FreeString(s *C.char) {
	C.free(unsafe.Pointer(s))
}

// f64s views n doubles of C memory as a Go slice, without copying.
func f64s(p *C.double, n C.longlong) []float64 {
	if n <= 0 || p == nil {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(p)), int(n))
}

func sumTree(sums []float64) float64 {
	if len(sums) == 1 {
		return sums[0]
	}
	h := len(sums) / 2
	return sumTree(sums[:h]) + sumTree(sums[h:])
}

// SumF64 returns the sum of n doubles in shmcall's fixed summation order.
//
//export SumF64
func SumF64(p *C.double, n C.longlong) C.double {
	xs := f64s(p, n)
	if len(xs) == 0 {
		return 0
	}
	sums := make([]float64, 0, (len(xs)+sumChunk-1)/sumChunk)
	for i := 0; i < len(xs); i += sumChunk {
		sums = append(sums, sumChunkLanes(xs[i:min(i+sumChunk, len(xs))]))
	}
	return C.double(sumTree(sums))
}

// sumChunkLanes adds element j to lane j%8, then ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)).
func sumChunkLanes(xs []float64) float64 {
	var l [sumLanes]float64
	j := 0
	for ; j+sumLanes <= len(xs); j += sumLanes {
		g := xs[j : j+sumLanes : j+sumLanes]
		l[0] += g[0]
		l[1] += g[1]
		l[2] += g[2]
		l[3] += g[3]
		l[4] += g[4]
		l[5] += g[5]
		l[6] += g[6]
		l[7] += g[7]
	}
	for k, x := range xs[j:] {
		l[k] += x
	}
	return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

func min(a, b int) int { // no builtin min before Go 1.21
	if a < b {
		return a
	}
	return b
}

// ScaleF64 multiplies n doubles by k in place.
//
//export ScaleF64
func ScaleF64(p *C.double, n C.longlong, k C.double) {
	xs := f64s(p, n)
	for i := range xs {
		xs[i] *= float64(k)
	}
}

// FilterGtF64 returns the elements > t in a C.malloc'd buffer of *outN doubles, freed with
// FreeF64 (null when *outN is 0).
//
//export FilterGtF64
func FilterGtF64(p *C.double, n C.longlong, t C.double, outN *C.longlong) *C.double {
	xs := f64s(p, n)
	m := 0
	for _, x := range xs { // count first, so the result is one exact C allocation
		if x > float64(t) {
			m++
		}
	}
	*outN = C.longlong(m)
	if m == 0 {
		return nil
	}
	out := (*C.double)(C.malloc(C.size_t(m) * C.size_t(unsafe.Sizeof(C.double(0)))))
	ys := unsafe.Slice((*float64)(unsafe.Pointer(out)), m)
	j := 0
	for _, x := range xs {
		if x > float64(t) {
			ys[j] = x
			j++
		}
	}
	return out
}

// FreeF64 frees a buffer returned by FilterGtF64.
//
//export FreeF64
func FreeF64(p *C.double) {
	C.free(unsafe.Pointer(p))
}

// Sha256 writes the SHA-256 digest of n bytes at p to out[0:32].
//
//export Sha256
func Sha256(p *C.uchar, n C.longlong, out *C.uchar) {
	var data []byte
	if n > 0 && p != nil {
		data = unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
	}
	sum := sha256.Sum256(data)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), len(sum)), sum[:])
}
