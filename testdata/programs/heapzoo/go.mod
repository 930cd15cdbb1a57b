module heapzoo

go 1.21
