#ifndef PROBE_MEM_H
#define PROBE_MEM_H
int mem_main(int argc, char **argv);
#endif
