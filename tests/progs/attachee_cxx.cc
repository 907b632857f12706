// A C++ subject for heaptrace -p (tests/t_attach.sh): prints its pid, then
// at each SIGUSR1 makes N widgets with new at make_widget, deletes every
// other one (operator delete, sized), keeps the rest, and prints "made";
// exits 0 at SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <vector>

struct Widget {
	char bytes[1000];
};

__attribute__((noinline)) static Widget *make_widget()
{
	return new Widget();
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? std::atoi(argv[1]) : 100, sig = 0;
	std::vector<Widget *> kept;
	sigset_t set;

	kept.reserve(100000);
	std::printf("%d\n", (int)getpid());
	std::fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, nullptr);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		for (int i = 0; i < n; i++) {
			Widget *w = make_widget();
			if (i % 2)
				delete w;
			else
				kept.push_back(w);
		}
		std::printf("made\n");
		std::fflush(stdout);
	}
	for (Widget *w : kept)
		delete w;
	return 0;
}
