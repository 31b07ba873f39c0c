#ifndef PROBE_VECTOR_H
#define PROBE_VECTOR_H
int vector_main(int argc, char **argv);
#endif
