# pvx: the two commands of the README are `make run` and `make test`.
BUILD      ?= build
DATA_DIR   ?= /var/lib/pvx
LISTEN     ?=
JOBS       ?= $(shell nproc)
WERROR     ?= ON
CMAKE_ARGS ?=

.PHONY: all deps build run test test-asan bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPVX_WERROR=$(WERROR) $(CMAKE_ARGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	$(BUILD)/bin/pvxd --data-dir $(DATA_DIR) $(if $(LISTEN),--listen $(LISTEN))

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 900

# The sanitizer configuration: ASan + UBSan over the unit and integration tests.
test-asan: deps
	$(MAKE) build BUILD=build-asan CMAKE_ARGS="-DPVX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	cd build-asan && ctest --output-on-failure -j 2 --timeout 1800

bench: build
	@scripts/install-deps.sh --bench
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
