/* Time attaching skiff's cached seccomp programs (<runroot>/seccomp/*.bpf) in a fresh
 * process, 50 times: what the kernel spends preparing its per-syscall cache when a filter is
 * attached. Used by bench/seccomp.sh.  usage: seccomp-attach FILE.bpf FLAGS */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc,char**argv){
  FILE*f=fopen(argv[1],"rb"); unsigned flags=atoi(argv[2]);
  static unsigned char buf[1<<20]; size_t n=fread(buf,1,sizeof buf,f); size_t at=0;
  uint32_t count; memcpy(&count,buf,4); at=4;
  struct sock_fprog progs[4];
  for(uint32_t i=0;i<count;i++){uint32_t len;memcpy(&len,buf+at,4);at+=4;
    struct sock_filter*fl=malloc(len*8);
    for(uint32_t j=0;j<len;j++){memcpy(&fl[j].code,buf+at,2);fl[j].jt=buf[at+2];fl[j].jf=buf[at+3];memcpy(&fl[j].k,buf+at+4,4);at+=8;}
    progs[i].len=len;progs[i].filter=fl;}
  double tot=0; int N=50;
  for(int r=0;r<N;r++){
    int p[2]; pipe(p);
    pid_t c=fork();
    if(c==0){prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0);double t=now();
      for(uint32_t i=0;i<count;i++) if(syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,flags,&progs[i])){perror("seccomp");_exit(1);}
      double d=now()-t; write(p[1],&d,sizeof d); _exit(0);}
    double d; read(p[0],&d,sizeof d); waitpid(c,0,0); close(p[0]);close(p[1]); tot+=d;}
  printf("programs=%u first_len=%u flags=%u install avg %.3f ms\n",count,progs[0].len,flags,tot/N);
}
