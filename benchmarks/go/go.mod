module shmcallbench

go 1.19
