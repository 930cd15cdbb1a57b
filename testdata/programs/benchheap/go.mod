module benchheap

go 1.21
