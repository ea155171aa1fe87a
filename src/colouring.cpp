// colouring.cpp: the C interface of colouring.h over ColPack's C++ API.
// ColPack reads a pattern in ADOL-C's row format (row i: its count, then
// its column indices), orders the vertices and colours them; the colours
// come back as a vector per side. Nothing here throws across the C
// boundary: allocation failures and ColPack's own errors return -1.
#include <ColPack/ColPackHeaders.h>

#include <climits>
#include <new>
#include <vector>

#include "colouring.h"

namespace {

// ADOL-C's format: one array per row, [count, col...], in one allocation.
struct AdolcPattern {
  std::vector<unsigned int> data;
  std::vector<unsigned int *> rows;
  bool build(long nrow, const long *rowptr, const long *col) {
    long nnz = rowptr[nrow];
    if (nrow >= INT_MAX || nnz >= INT_MAX - nrow)
      return false;
    data.resize((size_t)(nrow + nnz));
    rows.resize((size_t)nrow + 1);
    size_t k = 0;
    for (long i = 0; i < nrow; i++) {
      rows[(size_t)i] = &data[k];
      data[k++] = (unsigned int)(rowptr[i + 1] - rowptr[i]);
      for (long p = rowptr[i]; p < rowptr[i + 1]; p++)
        data[k++] = (unsigned int)col[p];
    }
    return true;
  }
};

// ColPack's colours renumbered 0..k-1 in order of first use; vertices
// without an edge (an empty row or column) get -1. Returns k.
int renumber(const std::vector<int> &in, const std::vector<char> &used, long n, int *colour) {
  std::vector<int> map;
  int k = 0;
  for (long v = 0; v < n; v++) {
    if (!used[(size_t)v] || (size_t)v >= in.size() || in[(size_t)v] < 0) {
      colour[v] = -1;
      continue;
    }
    size_t c = (size_t)in[(size_t)v];
    if (c >= map.size())
      map.resize(c + 1, -1);
    if (map[c] < 0)
      map[c] = k++;
    colour[v] = map[c];
  }
  return k;
}

int bipartite(long nrow, long ncol, const long *rowptr, const long *col, int *colour, bool by_rows) {
  AdolcPattern p;
  if (!p.build(nrow, rowptr, col) || ncol >= INT_MAX)
    return -1;
  std::vector<char> used((size_t)(by_rows ? nrow : ncol) + 1, 0);
  for (long i = 0; i < nrow; i++)
    for (long q = rowptr[i]; q < rowptr[i + 1]; q++)
      used[(size_t)(by_rows ? i : col[q])] = 1;
  if (rowptr[nrow] == 0) {
    for (long v = 0; v < (by_rows ? nrow : ncol); v++)
      colour[v] = -1;
    return 0;
  }
  ColPack::BipartiteGraphPartialColoringInterface b(SRC_MEM_ADOLC, p.rows.data(), (int)nrow, (int)ncol);
  // the serial colouring: ColPack's default is an OpenMP one that uses
  // more colours and starts threads
  const char *variant = by_rows ? "ROW_PARTIAL_DISTANCE_TWO" : "COLUMN_PARTIAL_DISTANCE_TWO";
  if (b.OrderVertices("SMALLEST_LAST", variant) != _TRUE)
    return -1;
  int rc = by_rows ? b.PartialDistanceTwoRowColoring_serial() : b.PartialDistanceTwoColumnColoring_serial();
  if (rc != _TRUE)
    return -1;
  std::vector<int> c;
  if (by_rows)
    b.GetLeftVertexColors(c);
  else
    b.GetRightVertexColors(c);
  return renumber(c, used, by_rows ? nrow : ncol, colour);
}

} // namespace

extern "C" int colour_columns(long nrow, long ncol, const long *rowptr, const long *col, int *colour) {
  try {
    return bipartite(nrow, ncol, rowptr, col, colour, false);
  } catch (...) {
    return -1;
  }
}

extern "C" int colour_rows(long nrow, long ncol, const long *rowptr, const long *col, int *colour) {
  try {
    return bipartite(nrow, ncol, rowptr, col, colour, true);
  } catch (...) {
    return -1;
  }
}

extern "C" int colour_star(long n, const long *rowptr, const long *col, int *colour) {
  try {
    AdolcPattern p;
    if (!p.build(n, rowptr, col))
      return -1;
    std::vector<char> used((size_t)n + 1, 0);
    for (long i = 0; i < n; i++)
      used[(size_t)i] = rowptr[i + 1] > rowptr[i];
    if (rowptr[n] == 0) {
      for (long v = 0; v < n; v++)
        colour[v] = -1;
      return 0;
    }
    ColPack::GraphColoringInterface g(SRC_MEM_ADOLC, p.rows.data(), (int)n);
    if (g.Coloring("SMALLEST_LAST", "STAR") != _TRUE)
      return -1;
    std::vector<int> c;
    g.GetVertexColors(c);
    return renumber(c, used, n, colour);
  } catch (...) {
    return -1;
  }
}
